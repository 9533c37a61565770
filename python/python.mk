# python/python.mk — the Python package segloss (included by the top-level Makefile).
#   make python          build python/segloss/_segloss.so in place:
#                        PYTHONPATH=python python3 -c "import segloss" then works
#   make install-python  copy the package and the library to $(DESTDIR)$(PYTHON_PREFIX)/segloss
#                        (Debian 12: /usr/local/lib/python3.11/dist-packages, on python3's path)
#   make uninstall-python, make clean-python (the .so and __pycache__)
#   make test-python     pytest python/tests (part of `make test`; about 30 s, after the .so build)
#   make demo-torch      examples/train_torch.py: a small U-Net trained with each guide configuration
#                        (about 3 min on 2 cores; DEMO_TORCH_ARGS=--quick for 6 s)
#   make bench-python    the Python layer's cost on top of the C call (python/bench_overhead.py)
# The library is compiled as users compile the header: one C file defines SEGLOSS_IMPLEMENTATION,
# plain -O2, no -march (segloss picks its SIMD path at run time). ctypes loads it: no Python
# headers, no compiler at import, one .so for every Python 3 version.
BUILD   ?= build
CC      ?= cc
# the system python3 (Debian's, with python3-numpy, python3-torch, python3-pytest), not one first on PATH
PYTHON  ?= $(firstword $(wildcard /usr/bin/python3) python3)
PY_PKG   = python/segloss
PY_SO    = $(PY_PKG)/_segloss.so
PY_SRCS  = $(wildcard $(PY_PKG)/*.py $(PY_PKG)/torch/*.py)
# Debian's python3 puts /usr/local/lib/python3.X/dist-packages on sys.path (its posix_local
# scheme): the place for software installed without pip and without a .deb (PEP 668).
PYTHON_PREFIX ?= $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("purelib"))' 2>/dev/null)

.PHONY: python install-python uninstall-python test-python demo-torch bench-python
python: $(PY_SO)

$(PY_SO): $(PY_PKG)/_lib.c segloss.h
	$(CC) -O2 -fPIC -shared -I. $(PY_PKG)/_lib.c -o $@.tmp -lm && mv $@.tmp $@

install-python: $(PY_SO)
	@[ -n "$(PYTHON_PREFIX)" ] || { echo "install-python: set PYTHON_PREFIX (no $(PYTHON) to ask)"; exit 1; }
	rm -rf $(DESTDIR)$(PYTHON_PREFIX)/segloss
	install -d $(DESTDIR)$(PYTHON_PREFIX)/segloss/torch
	install -m 644 $(wildcard $(PY_PKG)/*.py) $(DESTDIR)$(PYTHON_PREFIX)/segloss/
	install -m 644 $(wildcard $(PY_PKG)/torch/*.py) $(DESTDIR)$(PYTHON_PREFIX)/segloss/torch/
	install -m 755 $(PY_SO) $(DESTDIR)$(PYTHON_PREFIX)/segloss/
	@echo "installed segloss into $(DESTDIR)$(PYTHON_PREFIX)/segloss"

uninstall-python:
	rm -rf $(DESTDIR)$(PYTHON_PREFIX)/segloss

# pytest writes JUnit XML; junit_counts.py turns it into the "N passed, M failed" line `record`
# reads (skips count as neither). No XML (pytest died) leaves no line: `record` counts a failure.
test-python: $(PY_SO)
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/python-tests.xml
	PYTHONPATH=python PYTHONDONTWRITEBYTECODE=1 $(PYTHON) -m pytest -q -p no:cacheprovider \
	  --junitxml=$(BUILD)/python-tests.xml python/tests > $(BUILD)/python.log 2>&1; tail -n 15 $(BUILD)/python.log
	@$(PYTHON) python/tests/junit_counts.py $(BUILD)/python-tests.xml >> $(BUILD)/python.log; tail -n 1 $(BUILD)/python.log
	$(call record,python,$(BUILD)/python.log)
EXTRA_TESTS += test-python

demo-torch: $(PY_SO)
	PYTHONPATH=python $(PYTHON) examples/train_torch.py $(DEMO_TORCH_ARGS)

bench-python: $(PY_SO)
	PYTHONPATH=python $(PYTHON) python/bench_overhead.py --channels-last

.PHONY: clean-python
clean-python:
	rm -f $(PY_SO) $(PY_SO).tmp
	rm -rf python/segloss/__pycache__ python/segloss/torch/__pycache__ python/tests/__pycache__
