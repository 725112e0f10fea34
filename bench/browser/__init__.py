"""The grid widget in a real headless Chromium: ``python -m bench.browser`` (see its ``__main__``).

* processes  CPU accounting: Chromium's process tree and its renderer's threads, the server's FFmpeg and
             kernels, the test cameras, the machine
* runs       the runs: a fresh notebook in a fresh page of one ``jupyter lab`` each, driven by Playwright
* paths      H.264 tiles (WebCodecs) beside MPEG-1 tiles (JSMpeg) on camera-fed streams: ``python -m bench``'s
             browser section
* figures    the rows of ``python -m bench``'s table that ``paths`` measures
* pool       ``python -m bench.browser.pool``: a Worker per tile against a pool of a few, on a bare page
* report     the printed rows and the JSON
* js/        the page functions the runs evaluate in Chromium, one a file; ``instrument.js`` runs before every
             page's own scripts; ``pool_worker.js`` is bundled by esbuild for ``pool``
"""
