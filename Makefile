# segloss — build, test, benchmark, demo.
#   make demo    the main job: train a pixel classifier with each loss (examples/demo.mk)
#   make test    everything CI runs (about 7 minutes on 2 cores)
#   make bench   benchmarks against memcpy, scalar and each ISA (bench/bench.mk)
CC      ?= cc
CXX     ?= c++
BUILD   ?= build
NPROC   := $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += -j$(NPROC) --output-sync=target
WARN     = -Wall -Wextra -Wpedantic -Werror
A64      = aarch64-linux-gnu
QEMU_A64 = qemu-aarch64 -L /usr/$(A64)

# segloss.h is assembled from these, in this order (kernels/api.h has the map).
PARTS   = api.h impl.h isa_avx2.h isa_avx512.h isa_neon.h isa_scalar.h dispatch.h driver.h \
          text.h metrics.h impl_end.h loss_kernels.h license.h
SOURCES = $(addprefix kernels/,$(PARTS))

.PHONY: all test clean check-header test-unit test-build test-audit test-qemu test-arm \
        test-tsan test-vmath
all: segloss.h

segloss.h: $(SOURCES)
	cat $(SOURCES) > $@

clean:
	rm -rf $(BUILD)

# Each check writes one "NAME: N passed, M failed" line to $(BUILD)/results; `test` adds them up.
RESULTS = $(BUILD)/results
TESTS   = test-unit test-build test-audit test-qemu test-arm test-tsan test-vmath $(EXTRA_TESTS)
test:
	@rm -rf $(RESULTS); mkdir -p $(RESULTS)
	@$(MAKE) --no-print-directory check-header; \
	 $(MAKE) --no-print-directory -k $(TESTS); st=$$?; \
	 echo "==== segloss test summary ===="; cat $(RESULTS)/*.txt; \
	 awk '{p += $$2; f += $$4} END {print "total: " p " passed, " f " failed"; exit f > 0}' $(RESULTS)/*.txt && \
	 [ $$(ls $(RESULTS) | wc -l) -ge $(words check-header $(TESTS)) ] && exit $$st

# record NAME "N passed, M failed" (from a log's last such line)
define record
	@mkdir -p $(RESULTS)
	@grep -E '^[0-9]+ passed, [0-9]+ failed' $(2) | tail -n 1 | sed 's/^/$(1): /' > $(RESULTS)/$(1).txt
	@[ -s $(RESULTS)/$(1).txt ] || echo "$(1): 0 passed, 1 failed" > $(RESULTS)/$(1).txt
	@awk '{exit $$4 > 0}' $(RESULTS)/$(1).txt
endef

# ---- the committed header must be exactly what kernels/ assembles to --------------------
check-header:
	@mkdir -p $(BUILD)
	@if cat $(SOURCES) | cmp -s - segloss.h; then echo "1 passed, 0 failed"; \
	 else echo "segloss.h is stale: run 'make segloss.h' and commit it"; echo "0 passed, 1 failed"; fi \
	 > $(BUILD)/check-header.log; cat $(BUILD)/check-header.log
	$(call record,check-header,$(BUILD)/check-header.log)

# ---- the Catch2 suite: every loss and option vs a float64 reference, on every path -----
CXXFLAGS_T = -std=c++11 -O2 -Wall -Wextra -Werror
TEST_SRCS  = $(wildcard tests/test_*.cpp) tests/segloss_impl.cpp
$(BUILD)/x86/%.o: tests/%.cpp segloss.h $(wildcard tests/*.hpp)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_T) -c $< -o $@
$(BUILD)/test_segloss: $(patsubst tests/%.cpp,$(BUILD)/x86/%.o,$(TEST_SRCS))
	$(CXX) $^ -o $@ -lm
test-unit: $(BUILD)/test_segloss
	$(BUILD)/test_segloss | tee $(BUILD)/unit.log
	@sed -nE 's/^test cases: *([0-9]+) \| *([0-9]+) passed \| *([0-9]+) failed.*/\2 passed, \3 failed/p; s/^All tests passed \(.* in ([0-9]+) test cases?\)/\1 passed, 0 failed/p' $(BUILD)/unit.log >> $(BUILD)/unit.log
	$(call record,unit,$(BUILD)/unit.log)

# ---- build matrix: the header warning-free as C99/C11 with gcc and clang at -O0/-O2/-O3,
#      as a two-TU program (tests/probe.c uses what tests/compile/impl.c implements), in
#      SEGLOSS_STATIC mode, and with -march=native; every build runs the probe ---------------
MATRIX = $(foreach cc,gcc clang,$(foreach o,O0 O2 O3,$(foreach s,c99 c11,$(cc)-$(o)-$(s))))
$(BUILD)/matrix/%/probe: tests/probe.c tests/compile/impl.c segloss.h
	@mkdir -p $(dir $@)
	$(word 1,$(subst -, ,$*)) -$(word 2,$(subst -, ,$*)) -std=$(word 3,$(subst -, ,$*)) $(WARN) \
	  tests/compile/impl.c tests/probe.c -o $@ -lm
$(BUILD)/matrix/native/probe: tests/probe.c tests/compile/impl.c segloss.h
	@mkdir -p $(dir $@)
	gcc -O2 -march=native $(WARN) tests/compile/impl.c tests/probe.c -o $@ -lm
$(BUILD)/matrix/static-%/static: tests/compile/static.c segloss.h
	@mkdir -p $(dir $@)
	$* -O2 -std=c99 $(WARN) $< -o $@ -lm
BUILDS = $(foreach m,$(MATRIX) native,$(BUILD)/matrix/$(m)/probe) \
         $(BUILD)/matrix/static-gcc/static $(BUILD)/matrix/static-clang/static
test-build: $(BUILDS)
	@pass=0; fail=0; for b in $(BUILDS); do \
	   if $$b > $$b.log 2>&1; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$b"; tail -5 $$b.log; fi; \
	 done; echo "build matrix: $$pass builds compiled warning-free and passed"; \
	 echo "$$pass passed, $$fail failed" | tee $(BUILD)/build.log
	$(call record,build,$(BUILD)/build.log)

# ---- objdump audit: AVX code only inside the AVX kernels --------------------------------
AUDIT_OBJS = $(foreach cc,gcc clang,$(foreach o,O0 O2,$(BUILD)/audit/$(cc)-$(o).o))
$(BUILD)/audit/%.o: tests/compile/impl.c segloss.h
	@mkdir -p $(dir $@)
	$(word 1,$(subst -, ,$*)) -$(word 2,$(subst -, ,$*)) -c $< -o $@
test-audit: $(AUDIT_OBJS)
	tests/isa_audit.sh $(AUDIT_OBJS) | tee $(BUILD)/audit.log
	$(call record,audit,$(BUILD)/audit.log)

# ---- qemu-x86_64 CPU models, and the SIGILL negative control ----------------------------
$(BUILD)/probe-unsafe: tests/probe.c tests/compile/impl.c segloss.h
	gcc -O2 -DSEGLOSS_UNSAFE_FORCE_ISA tests/compile/impl.c tests/probe.c -o $@ -lm
test-qemu: $(BUILD)/matrix/gcc-O2-c99/probe $(BUILD)/probe-unsafe
	tests/qemu_matrix.sh $^ | tee $(BUILD)/qemu.log
	$(call record,qemu-x86,$(BUILD)/qemu.log)

# ---- aarch64: cross-built, run under qemu-aarch64; the NEON path and the AVX2-API kernels
#      (SIMDe maps them to NEON) must be bit-identical to scalar, and to x86 (fingerprint) ---
$(BUILD)/a64/probe: tests/probe.c tests/compile/impl.c segloss.h
	@mkdir -p $(dir $@)
	$(A64)-gcc -O2 -std=c99 $(WARN) -DSEGLOSS_TEST_X86_API_ON_ARM tests/compile/impl.c tests/probe.c -o $@ -lm
test-arm: $(BUILD)/a64/probe $(BUILD)/matrix/gcc-O2-c99/probe
	@{ for cpu in cortex-a53 max; do \
	     echo "== qemu-aarch64 -cpu $$cpu"; $(QEMU_A64) -cpu $$cpu $(BUILD)/a64/probe --expect neon --fingerprint; done; \
	   x86=$$($(BUILD)/matrix/gcc-O2-c99/probe --fingerprint | grep fingerprint); \
	   arm=$$($(QEMU_A64) -cpu max $(BUILD)/a64/probe --fingerprint | grep fingerprint); \
	   echo "x86 $$x86, aarch64 $$arm"; \
	   if [ "$$x86" = "$$arm" ]; then echo "FINGERPRINT same bits on x86 and aarch64"; else echo "FAIL fingerprints differ"; fi; \
	 } 2>&1 | tee $(BUILD)/arm.log
	@awk '/ passed, [0-9]+ failed/ {p += $$1; f += $$3} /^FAIL fingerprints/ {f++} /^FINGERPRINT/ {p++} \
	      END {print p " passed, " f " failed"}' $(BUILD)/arm.log >> $(BUILD)/arm.log
	$(call record,aarch64,$(BUILD)/arm.log)

# The whole Catch2 suite cross-built and run under qemu-aarch64 (a few minutes; not in `test`:
# the probe above already holds every ARM path to the scalar path bit for bit, and the scalar
# path to x86's, which the suite checks against the float64 reference).
$(BUILD)/a64/%.o: tests/%.cpp segloss.h $(wildcard tests/*.hpp)
	@mkdir -p $(dir $@)
	$(A64)-g++ $(CXXFLAGS_T) -DSEGLOSS_TEST_X86_API_ON_ARM -c $< -o $@
$(BUILD)/a64/test_segloss: $(patsubst tests/%.cpp,$(BUILD)/a64/%.o,$(TEST_SRCS))
	$(A64)-g++ $^ -o $@ -lm
.PHONY: test-arm-suite
test-arm-suite: $(BUILD)/a64/test_segloss
	$(QEMU_A64) -cpu cortex-a53 $< exclude:[report]

# ---- ThreadSanitizer: eight threads race the first call ---------------------------------
$(BUILD)/threads-tsan: tests/threads.c segloss.h
	@mkdir -p $(BUILD)
	clang -O1 -g -fsanitize=thread tests/threads.c -o $@ -lm -lpthread
test-tsan: $(BUILD)/threads-tsan
	TSAN_OPTIONS=halt_on_error=1 $< 2>&1 | tee $(BUILD)/tsan.log
	@! grep -q "WARNING: ThreadSanitizer" $(BUILD)/tsan.log || echo "0 passed, 1 failed" >> $(BUILD)/tsan.log
	$(call record,tsan,$(BUILD)/tsan.log)

# ---- exp/log/log1p against the correctly rounded result on every path: every 7th float of
#      the kernels' domain in `test` (15 s), every float in test-vmath-full (2 min) ----------
$(BUILD)/vmath: tests/vmath.c segloss.h
	@mkdir -p $(BUILD)
	$(CC) -O2 $< -o $@ -lm -lpthread
test-vmath: $(BUILD)/vmath
	$< --every 7 | tee $(BUILD)/vmath.log
	$(call record,vmath,$(BUILD)/vmath.log)
.PHONY: test-vmath-full
test-vmath-full: $(BUILD)/vmath
	$< | tee $(BUILD)/vmath-full.log
	$(call record,vmath-full,$(BUILD)/vmath-full.log)

# ---- the demo, short run: loss falls and validation mean IoU beats chance for every loss --
EXTRA_TESTS += test-demo
test-demo: $(BUILD)/demo
	sh tests/test_demo.sh $(BUILD)/demo > $(BUILD)/demo-test.log 2>&1; tail -n 25 $(BUILD)/demo-test.log
	$(call record,demo,$(BUILD)/demo-test.log)

include examples/demo.mk
include bench/bench.mk
-include tests/reliability.mk
