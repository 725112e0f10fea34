// Whether `n` tiles decoded their first picture (recorder.js).
(n) => Object.values(window.__rnBench.tiles).filter((t) => t.first !== null).length >= n
