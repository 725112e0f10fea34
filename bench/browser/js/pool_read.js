// bench.browser.pool: the page time, animation frames so far, each tile's counters, the Workers' errors.
() => ({now: performance.now(), raf: window.__pool.raf, tiles: window.__pool.tiles, errors: window.__pool.errors})
