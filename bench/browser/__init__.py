"""The grid widget in a real headless Chromium: ``python -m bench.browser`` (see its ``__main__``).

* processes  CPU accounting: Chromium's process tree, the server's FFmpeg and kernels, the machine
* runs       the runs: a fresh notebook in a fresh page of one ``jupyter lab`` each, driven by Playwright
* report     the printed rows and the JSON
* js/        the page functions the runs evaluate in Chromium, one a file
"""
