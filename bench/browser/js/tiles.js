// Every tile: label, stream, path (data-codec), phase, decoded pictures, video bytes received, pictures its
// Worker drew (H.264 tiles, from instrument.js; null for JSMpeg, which draws what it decodes), badge,
// figures line, whether it is wholly on screen; the page time, the animation frames counted so far
// (recorder.js) and the H.264 Workers running.
() => {
  const wire = window.__rnWire;
  const worker = (id) => {
    if (!wire) return null;
    const mine = wire.workers.filter((w) => w.stream === id && !w.closed && w.stats);
    return mine.length === 1 ? mine[0].stats : null;
  };
  return {
    now: performance.now(),
    raf: window.__rnBench ? window.__rnBench.raf : null,
    workers: wire ? wire.workers.filter((w) => !w.closed).length : null,
    tiles: Array.from(document.querySelectorAll('.rn-tile')).map((el) => {
      const r = el.getBoundingClientRect();
      const detail = el.querySelector('.rn-detail');
      return {
        label: el.querySelector('.rn-label').textContent,
        stream: el.dataset.streamId,
        codec: el.dataset.codec || null,
        phase: el.dataset.phase,
        frames: Number(el.dataset.frames || 0),
        bytes: Number(el.dataset.bytes || 0),
        drawn: worker(el.dataset.streamId) ? worker(el.dataset.streamId).drawn : null,
        // the Worker's counters: access units dropped to stay live, jumps to an IDR, its decode lag
        worker: worker(el.dataset.streamId),
        badge: el.querySelector('.rn-badge').textContent,
        figures: detail ? detail.textContent : '',
        onScreen: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth,
      };
    }),
  };
}
