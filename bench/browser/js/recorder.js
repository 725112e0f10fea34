// Installed on every notebook page of the bench before its cells run. Records, from now on and in page time
// (performance.now()), when each tile element appears and when its data-frames first changes (keyed by a
// serial per element: two grids may show one stream), and counts the page's
// animation frames. Also defines window.__rnPanel(path), the notebook panel of a path (run_all.js,
// cells_done.js).
() => {
  window.__rnPanel = (path) => {
    let panel = null;
    for (const widget of window.jupyterapp.shell.widgets('main')) {
      if (widget.context && widget.context.path === path && widget.sessionContext) panel = widget;
    }
    return panel;
  };
  const rec = {t0: null, runAll: null, runAllError: null, tiles: {}, raf: 0};
  window.__rnBench = rec;
  const tick = () => { rec.raf += 1; requestAnimationFrame(tick); };  // the page's frame rate
  requestAnimationFrame(tick);
  const keys = new WeakMap();
  const entry = (el, now) => {
    if (!keys.has(el)) {
      keys.set(el, String(Object.keys(rec.tiles).length));
      rec.tiles[keys.get(el)] = {created: now, first: null, label: null, stream: el.dataset.streamId, codec: null};
    }
    return rec.tiles[keys.get(el)];
  };
  new MutationObserver((mutations) => {
    const now = performance.now();
    for (const m of mutations) {
      if (m.type === 'childList') {
        for (const node of m.addedNodes) {
          if (node.nodeType !== 1) continue;
          if (node.matches('.rn-tile')) entry(node, now);
          for (const el of node.querySelectorAll('.rn-tile')) entry(el, now);
        }
      } else if (m.target.matches('.rn-tile') && Number(m.target.dataset.frames) > 0) {
        const tile = entry(m.target, now);
        if (tile.first === null) {
          tile.first = now;
          tile.label = m.target.querySelector('.rn-label').textContent;
          tile.codec = m.target.dataset.codec || null;
        }
      }
    }
  }).observe(document.body, {subtree: true, childList: true, attributeFilter: ['data-frames']});
}
