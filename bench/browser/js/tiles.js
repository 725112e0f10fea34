// Every tile: label, phase, decoded pictures, badge, whether it is wholly on screen; the page time and the
// animation frames counted so far (recorder.js).
() => ({
  now: performance.now(),
  raf: window.__rnBench ? window.__rnBench.raf : null,
  tiles: Array.from(document.querySelectorAll('.rn-tile')).map((el) => {
    const r = el.getBoundingClientRect();
    return {
      label: el.querySelector('.rn-label').textContent,
      phase: el.dataset.phase,
      frames: Number(el.dataset.frames || 0),
      badge: el.querySelector('.rn-badge').textContent,
      onScreen: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth,
    };
  }),
})
