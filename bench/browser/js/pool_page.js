// bench.browser.pool's page (no JupyterLab): `urls.length` tiles (canvases of the widget's tile width, in a
// grid), each its stream's socket (codec=h264) read on the main thread and handed, transferred, to one of
// `workers` Workers (pool_worker.js; tile i → Worker i mod workers), drawing at `draw` px wide (0: the
// picture's own width). window.__pool holds each tile's
// counters (posted by its Worker), its bytes and socket messages, and the page's animation frames.
({urls, workers, source, width, draw}) => {
  document.head.innerHTML = '';
  document.body.innerHTML = '';
  document.body.style.margin = '8px';
  const grid = document.createElement('div');
  grid.style.cssText = `display: grid; grid-template-columns: repeat(auto-fill, ${width}px); gap: 8px;`;
  document.body.appendChild(grid);
  const url = URL.createObjectURL(new Blob([source], {type: 'text/javascript'}));
  const pool = Array.from({length: workers}, (_, i) => new Worker(url, {name: `pool ${i}`}));
  const rec = {
    tiles: urls.map(() => ({decoded: 0, drawn: 0, dropped: 0, jumps: 0, bytes: 0, messages: 0})),
    raf: 0,
    errors: [],
  };
  window.__pool = rec;
  for (const worker of pool) {
    worker.onmessage = (event) => {
      const m = event.data;
      if (m.type === 'stats') {
        for (const [id, stats] of Object.entries(m.stats)) Object.assign(rec.tiles[id], stats);
      } else {
        rec.errors.push(`${m.id}: ${m.message}`);
      }
    };
  }
  urls.forEach((socketUrl, i) => {
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 360;
    canvas.style.width = `${width}px`;
    grid.appendChild(canvas);
    const offscreen = canvas.transferControlToOffscreen();
    const worker = pool[i % workers];
    worker.postMessage({type: 'add', id: i, canvas: offscreen, draw}, [offscreen]);
    const socket = new WebSocket(socketUrl);
    socket.binaryType = 'arraybuffer';
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') return;
      rec.tiles[i].bytes += event.data.byteLength;
      rec.tiles[i].messages += 1;
      worker.postMessage({type: 'data', id: i, buffer: event.data}, [event.data]);
    };
  });
  const tick = () => { rec.raf += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}
