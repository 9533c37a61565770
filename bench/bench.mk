# segloss benchmarks. Standalone:  make -f bench/bench.mk bench   (from the repository root)
# or from the main Makefile:        include bench/bench.mk
#
#   bench        representative subset (~3 min on 2 cores), ends with the compact table
#   bench-full   everything: every loss x mode x path x layout x C in {2,4,21,150} x size,
#                and bench-dram's cases
#   bench-dram   1 GiB of logits (DRAM on any host): C=4 NCHW, CE and Dice loss+gradient, avx2
#                and the best path, each call paired with a memcpy and a non-temporal copy (~30 s;
#                about 2.2 GiB of memory)
#   bench-peers  segloss beside PyTorch (1 thread) and oneDNN; installs python3-torch and
#                libdnnl-dev with apt-get if they are missing
#   bench-arm    cross-builds the self-timed variant for aarch64 and runs a smoke under qemu
#   bench-count  instructions per position (valgrind --tool=callgrind), AVX2 and scalar paths,
#                every loss, per kernel (bench/count.c, bench/count.py; ~30 s)
#
# Peers stay out of `make test`. Override knobs on the command line, e.g.
#   make bench BENCH_REPS=5 BENCH_MIN_TIME=0.2
BUILD       ?= build
CC          ?= cc
CXX         ?= c++
PYTHON3     ?= /usr/bin/python3

BENCH_DIR       = $(BUILD)/bench
# The implementation TU is compiled as users compile it: -O2, no -march (runtime dispatch).
BENCH_IMPL_FLAGS ?= -O2
BENCH_CXXFLAGS  ?= -std=c++11 -O2 -Wall -Wextra
BENCH_REPS      ?= 3
BENCH_MIN_TIME  ?= 0.1
BENCH_FULL_REPS ?= 5
BENCH_GB_FLAGS   = --benchmark_min_time=$(BENCH_MIN_TIME) --benchmark_repetitions=$(BENCH_REPS) \
                   --benchmark_report_aggregates_only=true --benchmark_out_format=json \
                   --benchmark_context=compiler="$$($(CC) --version | head -n1)"
BENCH_SUDO       = $(shell [ "$$(id -u)" = 0 ] || echo sudo)
ARM_CC          ?= aarch64-linux-gnu-gcc
ARM_CXX         ?= aarch64-linux-gnu-g++
ARM_RUN         ?= qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu max

.PHONY: bench bench-full bench-dram bench-peers bench-arm bench-build bench-count

bench-build: $(BENCH_DIR)/bench_segloss $(BENCH_DIR)/segloss_timer

$(BENCH_DIR)/segloss_impl.o: bench/segloss_impl.c segloss.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_IMPL_FLAGS) -c $< -o $@

$(BENCH_DIR)/bench.o: bench/bench.cpp segloss.h
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -c $< -o $@

$(BENCH_DIR)/bench_segloss: $(BENCH_DIR)/bench.o $(BENCH_DIR)/segloss_impl.o
	$(CXX) $^ -o $@ -lbenchmark -lpthread -lm

# The self-timed variant of the same loops (no Google Benchmark): segloss side of the peers.
$(BENCH_DIR)/segloss_timer: bench/bench.cpp $(BENCH_DIR)/segloss_impl.o
	$(CXX) $(BENCH_CXXFLAGS) -DSEGLOSS_BENCH_SMOKE bench/bench.cpp $(BENCH_DIR)/segloss_impl.o -o $@ -lm

# The callgrind driver of bench-count, linked to the same -O2 implementation.
$(BENCH_DIR)/count: bench/count.c $(BENCH_DIR)/segloss_impl.o
	$(CC) -O2 -std=c99 -Wall -Wextra bench/count.c $(BENCH_DIR)/segloss_impl.o -o $@ -lm

$(BENCH_DIR)/onednn_peer: bench/onednn.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) $< -o $@ -ldnnl

bench: $(BENCH_DIR)/bench_segloss
	$(BENCH_DIR)/bench_segloss --set=quick $(BENCH_GB_FLAGS) --benchmark_out=$(BENCH_DIR)/bench.json
	@echo
	$(PYTHON3) bench/table.py $(BENCH_DIR)/bench.json | tee $(BENCH_DIR)/table.md

bench-full: $(BENCH_DIR)/bench_segloss
	$(BENCH_DIR)/bench_segloss --set=full $(BENCH_GB_FLAGS) --benchmark_repetitions=$(BENCH_FULL_REPS) \
	    --benchmark_out=$(BENCH_DIR)/bench-full.json
	@echo
	$(PYTHON3) bench/table.py $(BENCH_DIR)/bench-full.json | tee $(BENCH_DIR)/table-full.md

bench-dram: $(BENCH_DIR)/bench_segloss
	$(BENCH_DIR)/bench_segloss --set=dram $(BENCH_GB_FLAGS) --benchmark_repetitions=$(BENCH_FULL_REPS) \
	    --benchmark_out=$(BENCH_DIR)/bench-dram.json
	@echo
	$(PYTHON3) bench/table.py $(BENCH_DIR)/bench-dram.json | tee $(BENCH_DIR)/table-dram.md

bench-peers: $(BENCH_DIR)/segloss_timer
	@if ! dpkg -s python3-torch >/dev/null 2>&1 || ! dpkg -s libdnnl-dev >/dev/null 2>&1; then \
	    command -v apt-get >/dev/null 2>&1 || { echo "bench-peers: needs python3-torch and libdnnl-dev (apt-get not found)"; exit 1; }; \
	    echo "bench-peers: installing python3-torch libdnnl-dev (about 1 GB)"; \
	    $(BENCH_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch libdnnl-dev; \
	fi
	$(MAKE) -f $(firstword $(MAKEFILE_LIST)) BUILD=$(BUILD) $(BENCH_DIR)/onednn_peer
	$(PYTHON3) bench/peers.py --timer $(BENCH_DIR)/segloss_timer --onednn $(BENCH_DIR)/onednn_peer \
	    | tee $(BENCH_DIR)/peers.md

bench-arm: bench/bench.cpp bench/segloss_impl.c segloss.h
	@command -v $(ARM_CXX) >/dev/null 2>&1 || { echo "bench-arm: $(ARM_CXX) not found (apt-get install g++-aarch64-linux-gnu)"; exit 1; }
	@mkdir -p $(BENCH_DIR)/aarch64
	$(ARM_CC) $(BENCH_IMPL_FLAGS) -c bench/segloss_impl.c -o $(BENCH_DIR)/aarch64/segloss_impl.o
	$(ARM_CXX) $(BENCH_CXXFLAGS) -DSEGLOSS_BENCH_SMOKE bench/bench.cpp $(BENCH_DIR)/aarch64/segloss_impl.o \
	    -o $(BENCH_DIR)/aarch64/segloss_timer -lm
	@echo "bench-arm: smoke under $(ARM_RUN) -- emulated: the timings below mean NOTHING"
	$(ARM_RUN) $(BENCH_DIR)/aarch64/segloss_timer --smoke --reps=1
	@echo "bench-arm: ran every case on every aarch64 path; timings under qemu emulation mean nothing."

# Instructions per position under callgrind: deterministic, so a change of a few instructions
# shows where timings on a shared machine cannot. BENCH_COUNT_PATHS: the paths (SEGLOSS_ISA).
BENCH_COUNT_PATHS ?= avx2,scalar
bench-count: $(BENCH_DIR)/count
	@command -v valgrind >/dev/null 2>&1 || { echo "bench-count: needs valgrind (apt-get install valgrind)"; exit 1; }
	$(PYTHON3) bench/count.py $(BENCH_DIR)/count --paths=$(BENCH_COUNT_PATHS) --json=$(BENCH_DIR)/count.json \
	    | tee $(BENCH_DIR)/count.md
include bench/scaling.mk
