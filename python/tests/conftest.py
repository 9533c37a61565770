"""pytest set-up for python/tests: the package from python/ (the in-place build of `make python`)
unless PYTHONPATH already provides one, and this directory for reference.py and parity.py."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
for p in (HERE, PYDIR):
    if p not in sys.path:
        sys.path.insert(0, p)
