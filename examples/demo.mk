# examples/demo.mk — the main demo (included by the top-level Makefile).
#   make demo        build and run the full demo: six losses, tables, PNGs in examples/out/
#   make demo-smoke  build and run the short demo and check its output (tests/test_demo.sh)
# Plain -O2 (no -march): segloss picks its SIMD path at run time.
BUILD      ?= build
CC         ?= cc
DEMO_CFLAGS = -std=c99 -O2 -Wall -Wextra -Wpedantic
DEMO_OUT   ?= examples/out

$(BUILD)/demo: examples/demo.c examples/png.h segloss.h
	@mkdir -p $(BUILD)
	$(CC) $(DEMO_CFLAGS) -I. examples/demo.c -o $@ -lm

.PHONY: demo demo-smoke
demo: $(BUILD)/demo
	@mkdir -p $(DEMO_OUT)
	$(BUILD)/demo --out $(DEMO_OUT)

demo-smoke: $(BUILD)/demo
	sh tests/test_demo.sh $(BUILD)/demo
