"""``python -m bench.browser``: see ``bench.browser.runs``."""

from bench.browser.runs import main

main()
