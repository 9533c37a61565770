# tests/reliability.mk — sanitizers, valgrind, fuzzing, stress and regression checks, for the
# programs in tests/reliability/ and tests/fuzz/ and the Catch2 suite of tests/unit/.
# Included from the top-level Makefile (its variables BUILD, CC, IMPL, PROBE, TEST_HDRS and
# its `record` macro); every target records one "NAME: N passed, M failed" line.
#   test-asan      Catch2 suite + probe (C, two TUs) under ASan+UBSan           (~1-2 min build)
#   test-valgrind  regress.c under valgrind memcheck, on every path valgrind runs (no AVX-512)
#   test-fuzz      the three libFuzzer targets, FUZZ_TIME seconds each, from tests/fuzz/corpus/
#   test-stress    stress.c: big C on every path, 2^26 streamed positions, extremes
#   test-regress   regress.c (regressions + the validation audit) under ASan+UBSan
#   stress-full    stress.c with 2^28 streamed positions (not part of `make test`)
#   fuzz-long      the fuzzers for FUZZ_LONG seconds each (not part of `make test`)
EXTRA_TESTS += test-asan test-valgrind test-fuzz test-stress test-regress
.PHONY: test-asan test-valgrind test-fuzz test-stress test-regress stress-full fuzz-long

SAN_CC     = clang
SAN_CXX    = clang++
SANFLAGS   = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_ENV    = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1 \
             UBSAN_OPTIONS=print_stacktrace=1
FUZZ_TIME ?= 15
FUZZ_LONG ?= 600
FUZZ_RSS  ?= 2048
FUZZERS    = fuzz_compute fuzz_parse fuzz_metrics
# The library's coverage hooks: edge counters, without the comparison tracing (trace-cmp) that
# -fsanitize=fuzzer-no-link adds. Every loop of the kernels called it at each step: it took
# a third of fuzz_compute's time on small inputs, half on large ones, and the harness's
# decoded inputs leave it little to steer (15 s runs reached more coverage without it). The
# fuzz targets keep it for their headers.
FUZZ_LIB_COV = -fsanitize=fuzzer-no-link -fno-sanitize-coverage=trace-cmp
# Extra libFuzzer flags of one target in test-fuzz's short runs (tests/fuzz/run.sh reads
# FUZZ_FLAGS_<target>). fuzz_compute without the entropic power schedule: in a 15 s run its
# per-feature bookkeeping took three quarters of a quick input's time, and runs without it
# reached more coverage. fuzz-long keeps libFuzzer's defaults.
FUZZ_FLAGS_fuzz_compute ?= -entropic=0

# ---- 1. the Catch2 suite and the C probe under AddressSanitizer + UBSan --------------------
# The implementation takes most of a sanitized build (UBSan instruments every inlined vector
# op: over a minute per compile), so it is compiled once (C, from tests/impl.c) and
# linked to every sanitized driver: the suite, the probe, regress and the fuzzers. It carries
# the fuzzers' coverage hooks (FUZZ_LIB_COV), which the ASan runtime ignores elsewhere, and the
# suite's small streaming threshold (tests/unit/segloss_impl.cpp), so the non-temporal path is
# checked too.
# -fsanitize=enum (C++ only) reports an out-of-range enum value but lets the suite go on, so
# one such test does not hide the rest; the report still counts as a failure below.
SANFLAGS_CXX = $(SANFLAGS) -fsanitize-recover=enum
$(BUILD)/asan/impl.o: $(IMPL) segloss.h
	@mkdir -p $(dir $@)
	$(SAN_CC) -std=c99 $(SANFLAGS) $(FUZZ_LIB_COV) -DSEGLOSS_STREAM_BYTES=4096u -c $< -o $@
$(BUILD)/asan/%.o: tests/unit/%.cpp segloss.h $(TEST_HDRS)
	@mkdir -p $(dir $@)
	$(SAN_CXX) -std=c++11 $(SANFLAGS_CXX) -c $< -o $@
$(BUILD)/asan/test_segloss: $(patsubst tests/unit/%.cpp,$(BUILD)/asan/%.o,$(wildcard tests/unit/test_*.cpp)) $(BUILD)/asan/impl.o
	$(SAN_CXX) $(SANFLAGS_CXX) $^ -o $@ -lm
$(BUILD)/asan/probe: $(PROBE) $(BUILD)/asan/impl.o
	$(SAN_CC) -std=c99 $(SANFLAGS) $^ -o $@ -lm
test-asan: $(BUILD)/asan/test_segloss $(BUILD)/asan/probe
	$(SAN_ENV) tests/reliability/asan.sh $^ 2>&1 | tee $(BUILD)/asan.log
	$(call record,asan,$(BUILD)/asan.log)

# ---- 2. valgrind memcheck on every path valgrind runs (scalar, SSE2, AVX2: no AVX-512) ------
#      built without sanitizers (valgrind and ASan do not mix), -O1 -g for readable reports
$(BUILD)/vg/impl.o: $(IMPL) segloss.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=c99 -c $< -o $@
$(BUILD)/vg/regress: tests/reliability/regress.c $(BUILD)/vg/impl.o
	$(CC) -O1 -g -std=c99 $^ -o $@ -lm
test-valgrind: $(BUILD)/vg/regress
	tests/reliability/valgrind.sh $< 2>&1 | tee $(BUILD)/valgrind.log
	$(call record,valgrind,$(BUILD)/valgrind.log)

# ---- 3. libFuzzer: each target FUZZ_TIME s from the committed seeds (read-only; new inputs go
#      to a scratch corpus under $(BUILD)/fuzz, crashes to $(BUILD)/fuzz/<target>-crash-*) -----
$(BUILD)/fuzz/%: tests/fuzz/%.c $(BUILD)/asan/impl.o
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SANFLAGS) -fsanitize=fuzzer $^ -o $@ -lm
test-fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZERS))
	$(SAN_ENV) FUZZ_RSS=$(FUZZ_RSS) FUZZ_FLAGS_fuzz_compute="$(FUZZ_FLAGS_fuzz_compute)" tests/fuzz/run.sh $(FUZZ_TIME) $(BUILD)/fuzz $(FUZZERS) 2>&1 | tee $(BUILD)/fuzz.log
	$(call record,fuzz,$(BUILD)/fuzz.log)
fuzz-long: $(addprefix $(BUILD)/fuzz/,$(FUZZERS))
	$(SAN_ENV) FUZZ_RSS=$(FUZZ_RSS) tests/fuzz/run.sh $(FUZZ_LONG) $(BUILD)/fuzz $(FUZZERS) 2>&1 | tee $(BUILD)/fuzz.log
	$(call record,fuzz-long,$(BUILD)/fuzz.log)

# ---- 4. stress: large C on every path, 2^26 (stress-full: 2^28) positions streamed --------
$(BUILD)/rel/impl-O2.o: $(IMPL) segloss.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=c99 -c $< -o $@
$(BUILD)/stress: tests/reliability/stress.c $(BUILD)/rel/impl-O2.o
	$(CC) -O2 -g -std=c99 $^ -o $@ -lm
test-stress: $(BUILD)/stress
	$< --log2-positions 26 2>&1 | tee $(BUILD)/stress.log
	$(call record,stress,$(BUILD)/stress.log)
stress-full: $(BUILD)/stress
	$< --log2-positions 28 --both 2>&1 | tee $(BUILD)/stress-full.log
	$(call record,stress-full,$(BUILD)/stress-full.log)

# ---- 5. regressions and the validation audit, under ASan+UBSan on every path --------------
$(BUILD)/asan/regress: tests/reliability/regress.c $(BUILD)/asan/impl.o
	$(SAN_CC) -std=c99 $(SANFLAGS) $^ -o $@ -lm
test-regress: $(BUILD)/asan/regress
	$(SAN_ENV) $< 2>&1 | tee $(BUILD)/regress.log
	$(call record,regress,$(BUILD)/regress.log)
