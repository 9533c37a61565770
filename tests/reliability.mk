# tests/reliability.mk — sanitizers, valgrind, fuzzing, stress and regression checks.
# Included from the top-level Makefile (-include tests/reliability.mk); every target records
# one "NAME: N passed, M failed" line through the Makefile's `record` macro.
#   test-asan      Catch2 suite + probe (C, two TUs) under ASan+UBSan           (~1-2 min build)
#   test-valgrind  tests/regress.c under valgrind memcheck, SEGLOSS_ISA=scalar/sse2/avx2
#   test-fuzz      the three libFuzzer targets, FUZZ_TIME seconds each, from tests/corpus/
#   test-stress    tests/stress.c: big C on every path, 2^26 streamed positions, extremes
#   test-regress   tests/regress.c (regressions + the validation audit) under ASan+UBSan
#   stress-full    tests/stress.c with 2^28 streamed positions (not part of `make test`)
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

# ---- 1. the Catch2 suite and the C probe under AddressSanitizer + UBSan --------------------
# The implementation takes most of a sanitized build (UBSan instruments every inlined vector
# op: over a minute per compile), so it is compiled once (C, from tests/compile/impl.c) and
# linked to every sanitized driver: the suite, the probe, regress and the fuzzers. It carries
# the fuzzers' coverage hooks, which the ASan runtime ignores elsewhere, and the suite's small
# streaming threshold (tests/segloss_impl.cpp), so the non-temporal path is checked too.
# -fsanitize=enum (C++ only) reports an out-of-range enum value but lets the suite go on, so
# one such test does not hide the rest; the report still counts as a failure below.
SANFLAGS_CXX = $(SANFLAGS) -fsanitize-recover=enum
$(BUILD)/asan/impl.o: tests/compile/impl.c segloss.h
	@mkdir -p $(dir $@)
	$(SAN_CC) -std=c99 $(SANFLAGS) -fsanitize=fuzzer-no-link -DSEGLOSS_STREAM_BYTES=4096u -c $< -o $@
$(BUILD)/asan/%.o: tests/%.cpp segloss.h $(wildcard tests/*.hpp)
	@mkdir -p $(dir $@)
	$(SAN_CXX) -std=c++11 $(SANFLAGS_CXX) -c $< -o $@
$(BUILD)/asan/test_segloss: $(patsubst tests/%.cpp,$(BUILD)/asan/%.o,$(wildcard tests/test_*.cpp)) $(BUILD)/asan/impl.o
	$(SAN_CXX) $(SANFLAGS_CXX) $^ -o $@ -lm
$(BUILD)/asan/probe: tests/probe.c $(BUILD)/asan/impl.o
	$(SAN_CC) -std=c99 $(SANFLAGS) $^ -o $@ -lm
test-asan: $(BUILD)/asan/test_segloss $(BUILD)/asan/probe
	@{ echo "== Catch2 suite under ASan+UBSan (exclude:[report])"; \
	   $(SAN_ENV) $(BUILD)/asan/test_segloss exclude:[report]; rc=$$?; [ $$rc -lt 128 ] || echo "SANITIZER-FAIL Catch2 suite killed (exit $$rc)"; \
	   echo "== probe (C, two translation units) under ASan+UBSan (no leak check: probe.c keeps its reference gradients)"; \
	   $(SAN_ENV) ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=1 $(BUILD)/asan/probe; rc=$$?; [ $$rc -lt 128 ] || echo "SANITIZER-FAIL probe killed (exit $$rc)"; } 2>&1 | tee $(BUILD)/asan.log
	@sed -nE 's/^test cases: *([0-9]+) \| *([0-9]+) passed \| *([0-9]+) failed.*/\2 passed, \3 failed/p; s/^All tests passed \(.* in ([0-9]+) test cases?\)/\1 passed, 0 failed/p' \
	      $(BUILD)/asan.log > $(BUILD)/asan.catch; cat $(BUILD)/asan.catch >> $(BUILD)/asan.log
	@awk '/^[0-9]+ passed, [0-9]+ failed/ {p += $$1; f += $$3} /^SANITIZER-FAIL/ {f++} /(ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer)/ {f++} \
	      END {print p " passed, " f " failed"}' $(BUILD)/asan.log >> $(BUILD)/asan.log
	$(call record,asan,$(BUILD)/asan.log)

# ---- 2. valgrind memcheck on the scalar, SSE2 and AVX2 paths (no AVX-512 in valgrind) ------
#      exit 1 = a failed check (counted in regress's own line), 99 = a memcheck error
$(BUILD)/vg/impl.o: tests/compile/impl.c segloss.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=c99 -c $< -o $@
$(BUILD)/vg/regress: tests/regress.c $(BUILD)/vg/impl.o
	$(CC) -O1 -g -std=c99 $^ -o $@ -lm
test-valgrind: $(BUILD)/vg/regress
	@{ for isa in scalar sse2 avx2; do \
	     echo "== valgrind memcheck, SEGLOSS_ISA=$$isa"; \
	     SEGLOSS_ISA=$$isa valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	       $(BUILD)/vg/regress --quick; rc=$$?; \
	     [ $$rc -le 1 ] || echo "VALGRIND-FAIL $$isa: memcheck errors or a crash (exit $$rc)"; \
	   done; } 2>&1 | tee $(BUILD)/valgrind.log
	@awk '/^[0-9]+ passed, [0-9]+ failed/ {p += $$1; f += $$3} /^VALGRIND-FAIL/ {f++} END {print p " passed, " f " failed"}' \
	      $(BUILD)/valgrind.log >> $(BUILD)/valgrind.log
	$(call record,valgrind,$(BUILD)/valgrind.log)

# ---- 3. libFuzzer: each target FUZZ_TIME s from the committed seeds (read-only; new inputs go
#      to a scratch corpus under $(BUILD)/fuzz, crashes to $(BUILD)/fuzz/<target>-crash-*) -----
$(BUILD)/fuzz/%: tests/%.c $(BUILD)/asan/impl.o
	@mkdir -p $(dir $@)
	$(SAN_CC) $(SANFLAGS) -fsanitize=fuzzer $^ -o $@ -lm
# run-fuzz TIME: every target in turn; one "1 passed, 0 failed" per clean run
define run-fuzz
	@{ for t in $(FUZZERS); do \
	     rm -rf $(BUILD)/fuzz/corpus-$$t; mkdir -p $(BUILD)/fuzz/corpus-$$t; \
	     echo "== $$t: $(1) s"; \
	     if $(SAN_ENV) $(BUILD)/fuzz/$$t $(BUILD)/fuzz/corpus-$$t tests/corpus/$$t -max_total_time=$(1) \
	          -rss_limit_mb=$(FUZZ_RSS) -timeout=10 -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$t- \
	          > $(BUILD)/fuzz/$$t.log 2>&1; \
	     then echo "1 passed, 0 failed"; else echo "FUZZ-FAIL $$t: see $(BUILD)/fuzz/$$t.log and $(BUILD)/fuzz/$$t-crash-*"; tail -40 $(BUILD)/fuzz/$$t.log | sed "s/^/  | /"; fi; \
	     grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+ *DONE' $(BUILD)/fuzz/$$t.log; \
	   done; } 2>&1 | tee $(BUILD)/fuzz.log
	@awk '/^[0-9]+ passed, [0-9]+ failed/ {p += $$1; f += $$3} /^FUZZ-FAIL/ {f++} END {print p " passed, " f " failed"}' \
	      $(BUILD)/fuzz.log >> $(BUILD)/fuzz.log
endef
test-fuzz: $(addprefix $(BUILD)/fuzz/,$(FUZZERS))
	$(call run-fuzz,$(FUZZ_TIME))
	$(call record,fuzz,$(BUILD)/fuzz.log)
fuzz-long: $(addprefix $(BUILD)/fuzz/,$(FUZZERS))
	$(call run-fuzz,$(FUZZ_LONG))
	$(call record,fuzz-long,$(BUILD)/fuzz.log)

# ---- 4. stress: large C on every path, 2^26 (stress-full: 2^28) positions streamed --------
$(BUILD)/rel/impl-O2.o: tests/compile/impl.c segloss.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=c99 -c $< -o $@
$(BUILD)/stress: tests/stress.c $(BUILD)/rel/impl-O2.o
	$(CC) -O2 -g -std=c99 $^ -o $@ -lm
test-stress: $(BUILD)/stress
	$< --log2-positions 26 2>&1 | tee $(BUILD)/stress.log
	$(call record,stress,$(BUILD)/stress.log)
stress-full: $(BUILD)/stress
	$< --log2-positions 28 --both 2>&1 | tee $(BUILD)/stress-full.log
	$(call record,stress-full,$(BUILD)/stress-full.log)

# ---- 5. regressions and the validation audit, under ASan+UBSan on every path --------------
$(BUILD)/asan/regress: tests/regress.c $(BUILD)/asan/impl.o
	$(SAN_CC) -std=c99 $(SANFLAGS) $^ -o $@ -lm
test-regress: $(BUILD)/asan/regress
	$(SAN_ENV) $< 2>&1 | tee $(BUILD)/regress.log
	$(call record,regress,$(BUILD)/regress.log)
