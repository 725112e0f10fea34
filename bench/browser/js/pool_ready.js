// bench.browser.pool: whether every tile drew at least `frames` pictures.
(frames) => window.__pool && window.__pool.tiles.every((t) => t.drawn >= frames)
