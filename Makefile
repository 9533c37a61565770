# segloss — build, test, benchmark, demo.
#   make demo    the main job: train a pixel classifier with each loss (examples/demo.mk)
#   make test    everything CI runs (about 11 minutes on 2 idle cores, twice that on a busy machine)
#   make bench   benchmarks against memcpy, scalar and each ISA (bench/bench.mk)
CC      ?= cc
CXX     ?= c++
BUILD   ?= build
NPROC   := $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += -j$(NPROC) --output-sync=target
WARN     = -Wall -Wextra -Wpedantic -Werror
A64      = aarch64-linux-gnu
QEMU_A64 = qemu-aarch64 -L /usr/$(A64)
# tests/: unit/ (the Catch2 suite), portability/ (compilers, CPUs, aarch64), reliability/
# (sanitizers, valgrind, stress, regressions; rules in tests/reliability.mk), fuzz/, and the
# implementation TU the C test programs share, tests/impl.c.
IMPL     = tests/impl.c
PROBE    = tests/portability/probe.c

# segloss.h is assembled from kernels/: its skeleton kernels/segloss.h includes the other parts,
# and tools/amalgamate.sh inlines each one once (kernels/segloss.h's table of contents maps them).
PARTS   = $(wildcard kernels/*.h)
AMALGAMATE = tools/amalgamate.sh kernels

.PHONY: all test clean check-header test-unit test-build test-audit test-qemu test-arm \
        test-tsan test-vmath
all: segloss.h

segloss.h: $(PARTS) tools/amalgamate.sh
	$(AMALGAMATE) > $@.tmp && mv $@.tmp $@

clean:
	rm -rf $(BUILD)

# Each check writes one "NAME: N passed, M failed" line to $(BUILD)/results; `test` adds them up.
# check-header runs first and alone: the other checks build from segloss.h. The rest run with
# -k, so that one failure does not hide the others; the summary fails if any check failed or
# any left no line, and otherwise `test` exits as make -k did.
RESULTS = $(BUILD)/results
TESTS   = test-unit test-build test-audit test-qemu test-arm test-tsan test-vmath $(EXTRA_TESTS)
test:
	@rm -rf $(RESULTS); mkdir -p $(RESULTS)
	@$(MAKE) --no-print-directory check-header; \
	 $(MAKE) --no-print-directory -k $(TESTS); st=$$?; \
	 sh tests/summary.sh $(RESULTS) $(words check-header $(TESTS)) && exit $$st

# record NAME LOG: NAME's result line from LOG's last "N passed, M failed" line; none there
# (the check died before its count) records one failure. Fails the target if anything failed.
define record
	@mkdir -p $(RESULTS)
	@grep -E '^[0-9]+ passed, [0-9]+ failed' $(2) | tail -n 1 | sed 's/^/$(1): /' > $(RESULTS)/$(1).txt
	@[ -s $(RESULTS)/$(1).txt ] || echo "$(1): 0 passed, 1 failed" > $(RESULTS)/$(1).txt
	@awk '{exit $$4 > 0}' $(RESULTS)/$(1).txt
endef

# ---- the committed header must be exactly what kernels/ assembles to --------------------
check-header:
	@mkdir -p $(BUILD)
	@if $(AMALGAMATE) | cmp -s - segloss.h; then echo "1 passed, 0 failed"; \
	 else echo "segloss.h is stale: run 'make segloss.h' and commit it"; echo "0 passed, 1 failed"; fi \
	 > $(BUILD)/check-header.log; cat $(BUILD)/check-header.log
	$(call record,check-header,$(BUILD)/check-header.log)

# ---- each part of kernels/ compiles on its own, as an editor or clangd opens it: every part
#      includes what it uses, and every bracket closes in the file that opens it ------------
EXTRA_TESTS += check-parts
PART_CCS  = gcc clang g++
PART_OKS  = $(foreach p,$(notdir $(PARTS)),$(foreach cc,$(PART_CCS),$(BUILD)/parts/$(cc)/$(p).ok))
$(BUILD)/parts/%.ok: $(PARTS)
	@mkdir -p $(dir $@)
	@cc=$(word 1,$(subst /, ,$*)); part=$(notdir $*); \
	 case $$cc in g++) lang="-x c++ -std=c++11";; *) lang="-x c -std=c99";; esac; \
	 if $$cc $$lang $(WARN) -fsyntax-only -DSEGLOSS_IMPLEMENTATION kernels/$$part > $@.log 2>&1; \
	 then echo "PASS $$part ($$cc)"; else echo "FAIL $$part ($$cc)"; head -n 5 $@.log; fi > $@
.PHONY: check-parts
check-parts: $(PART_OKS)
	@cat $^ > $(BUILD)/parts.log
	@echo "$$(grep -c '^PASS' $(BUILD)/parts.log) passed, $$(grep -c '^FAIL' $(BUILD)/parts.log) failed" \
	 | tee -a $(BUILD)/parts.log
	$(call record,parts,$(BUILD)/parts.log)

# ---- the Catch2 suite: every loss and option vs a float64 reference, on every path -----
CXXFLAGS_T = -std=c++11 -O2 -Wall -Wextra -Werror
TEST_SRCS  = $(wildcard tests/unit/test_*.cpp) tests/unit/segloss_impl.cpp
TEST_HDRS  = $(wildcard tests/unit/*.hpp)
$(BUILD)/x86/%.o: tests/unit/%.cpp segloss.h $(TEST_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_T) -c $< -o $@
$(BUILD)/test_segloss: $(patsubst tests/unit/%.cpp,$(BUILD)/x86/%.o,$(TEST_SRCS))
	$(CXX) $^ -o $@ -lm
# Catch2 counts test cases; catch2_counts.sh turns its summary into the line `record` reads.
test-unit: $(BUILD)/test_segloss
	$(BUILD)/test_segloss | tee $(BUILD)/unit.log
	@sh tests/unit/catch2_counts.sh $(BUILD)/unit.log >> $(BUILD)/unit.log
	$(call record,unit,$(BUILD)/unit.log)

# ---- build matrix: the header warning-free as C99/C11 with gcc and clang at -O0/-O2/-O3,
#      as a two-TU program (the probe uses what tests/impl.c implements), in SEGLOSS_STATIC
#      mode, and with -march=native; every build runs the probe ------------------------------
# A matrix directory is named CC-OPT-STD (gcc-O2-c99), which the rule splits at the dashes.
MATRIX = $(foreach cc,gcc clang,$(foreach o,O0 O2 O3,$(foreach s,c99 c11,$(cc)-$(o)-$(s))))
$(BUILD)/matrix/%/probe: $(PROBE) $(IMPL) segloss.h
	@mkdir -p $(dir $@)
	$(word 1,$(subst -, ,$*)) -$(word 2,$(subst -, ,$*)) -std=$(word 3,$(subst -, ,$*)) $(WARN) \
	  $(IMPL) $(PROBE) -o $@ -lm
$(BUILD)/matrix/native/probe: $(PROBE) $(IMPL) segloss.h
	@mkdir -p $(dir $@)
	gcc -O2 -march=native $(WARN) $(IMPL) $(PROBE) -o $@ -lm
$(BUILD)/matrix/static-%/static: tests/portability/static.c segloss.h
	@mkdir -p $(dir $@)
	$* -O2 -std=c99 $(WARN) $< -o $@ -lm
BUILDS = $(foreach m,$(MATRIX) native,$(BUILD)/matrix/$(m)/probe) \
         $(BUILD)/matrix/static-gcc/static $(BUILD)/matrix/static-clang/static
test-build: $(BUILDS)
	tests/portability/run_builds.sh $(BUILDS) | tee $(BUILD)/build.log
	$(call record,build,$(BUILD)/build.log)

# ---- fast-math: the implementation compiled with gcc -Ofast, -ffast-math -fno-finite-math-only
#      and -ffinite-math-only (gcc, clang) gives the plain build's results, and still finds NaN
#      logits and parameters; clang's fast-math is refused at compile time, or where no macro
#      tells, by the self-test at the first call -------------------------------------------
EXTRA_TESTS += test-fastmath
.PHONY: test-fastmath
test-fastmath: segloss.h
	bash tests/portability/fastmath.sh $(BUILD) > $(BUILD)/fastmath.log 2>&1; cat $(BUILD)/fastmath.log
	$(call record,fastmath,$(BUILD)/fastmath.log)

# ---- the README's Drop-it-in example compiles as written (C99 and C++11, gcc and clang) and
#      runs ---------------------------------------------------------------------------------
EXTRA_TESTS += test-readme
.PHONY: test-readme
test-readme: segloss.h
	sh tests/readme_example.sh $(BUILD) > $(BUILD)/readme.log 2>&1; cat $(BUILD)/readme.log
	$(call record,readme,$(BUILD)/readme.log)

# ---- objdump audit: AVX code only inside the AVX kernels --------------------------------
AUDIT_OBJS = $(foreach cc,gcc clang,$(foreach o,O0 O2,$(BUILD)/audit/$(cc)-$(o).o))
$(BUILD)/audit/%.o: $(IMPL) segloss.h
	@mkdir -p $(dir $@)
	$(word 1,$(subst -, ,$*)) -$(word 2,$(subst -, ,$*)) -c $< -o $@
test-audit: $(AUDIT_OBJS)
	tests/portability/isa_audit.sh $(AUDIT_OBJS) | tee $(BUILD)/audit.log
	$(call record,audit,$(BUILD)/audit.log)

# ---- qemu-x86_64 CPU models, and the SIGILL negative control ----------------------------
# (SEGLOSS_UNSAFE_FORCE_ISA lets SEGLOSS_ISA force a path the CPU lacks: test builds only.)
$(BUILD)/probe-unsafe: $(PROBE) $(IMPL) segloss.h
	gcc -O2 -DSEGLOSS_UNSAFE_FORCE_ISA $(IMPL) $(PROBE) -o $@ -lm
test-qemu: $(BUILD)/matrix/gcc-O2-c99/probe $(BUILD)/probe-unsafe
	tests/portability/qemu_matrix.sh $^ | tee $(BUILD)/qemu.log
	$(call record,qemu-x86,$(BUILD)/qemu.log)

# ---- aarch64: cross-built, run under qemu-aarch64; the NEON path and the AVX2-API kernels
#      (SIMDe maps them to NEON) must be bit-identical to scalar, and to x86 (fingerprint) ---
# (SEGLOSS_TEST_X86_API_ON_ARM compiles the AVX2/AVX-512 kernels too, through SIMDe: tests only.)
$(BUILD)/a64/probe: $(PROBE) $(IMPL) segloss.h
	@mkdir -p $(dir $@)
	$(A64)-gcc -O2 -std=c99 $(WARN) -DSEGLOSS_TEST_X86_API_ON_ARM $(IMPL) $(PROBE) -o $@ -lm
test-arm: $(BUILD)/a64/probe $(BUILD)/matrix/gcc-O2-c99/probe
	QEMU_A64="$(QEMU_A64)" tests/portability/arm.sh $^ 2>&1 | tee $(BUILD)/arm.log
	$(call record,aarch64,$(BUILD)/arm.log)

# The whole Catch2 suite cross-built and run under qemu-aarch64 (a few minutes; not in `test`:
# the probe above already holds every ARM path to the scalar path bit for bit, and the scalar
# path to x86's, which the suite checks against the float64 reference).
$(BUILD)/a64/%.o: tests/unit/%.cpp segloss.h $(TEST_HDRS)
	@mkdir -p $(dir $@)
	$(A64)-g++ $(CXXFLAGS_T) -DSEGLOSS_TEST_X86_API_ON_ARM -c $< -o $@
$(BUILD)/a64/test_segloss: $(patsubst tests/unit/%.cpp,$(BUILD)/a64/%.o,$(TEST_SRCS))
	$(A64)-g++ $^ -o $@ -lm
.PHONY: test-arm-suite
test-arm-suite: $(BUILD)/a64/test_segloss
	$(QEMU_A64) -cpu cortex-a53 $< exclude:[report]

# ---- ThreadSanitizer: eight threads race the first call ---------------------------------
$(BUILD)/threads-tsan: tests/reliability/threads.c segloss.h
	@mkdir -p $(BUILD)
	clang -O1 -g -fsanitize=thread $< -o $@ -lm -lpthread
# A race report is a failure even if every thread got the right answer.
test-tsan: $(BUILD)/threads-tsan
	TSAN_OPTIONS=halt_on_error=1 $< 2>&1 | tee $(BUILD)/tsan.log
	@! grep -q "WARNING: ThreadSanitizer" $(BUILD)/tsan.log || echo "0 passed, 1 failed" >> $(BUILD)/tsan.log
	$(call record,tsan,$(BUILD)/tsan.log)

# ---- threads: the same bits for 1, 2, 3, 8 threads and a caller's pool (about 1 min) -----
EXTRA_TESTS += test-threads
.PHONY: test-threads
$(BUILD)/threads_determinism: tests/reliability/threads_determinism.c segloss.h tests/check.h
	@mkdir -p $(BUILD)
	$(CC) -O2 $< -o $@ -lm -lpthread
test-threads: $(BUILD)/threads_determinism
	$< 2>&1 | tee $(BUILD)/threads-determinism.log
	$(call record,threads,$(BUILD)/threads-determinism.log)

# ---- MPI: examples/mpi_dice.c on 1, 2 and 4 ranks (loopback) against one process --------
EXTRA_TESTS += test-mpi
.PHONY: test-mpi
MPIRUN ?= mpirun --allow-run-as-root --oversubscribe
$(BUILD)/mpi_dice: examples/mpi_dice.c segloss.h
	@mkdir -p $(BUILD)
	mpicc -O2 -I. $< -o $@ -lm -lpthread
test-mpi: $(BUILD)/mpi_dice
	@rm -f $(BUILD)/mpi.log; for k in 1 2 4; do \
	   $(MPIRUN) -np $$k $< --check >> $(BUILD)/mpi.log 2>&1 || echo "0 passed, 1 failed" >> $(BUILD)/mpi.log; done; \
	 cat $(BUILD)/mpi.log; \
	 awk '/^[0-9]+ passed, [0-9]+ failed/ {p += $$1; f += $$3; n++} END {if (n < 3) f++; print p " passed, " f " failed"}' \
	   $(BUILD)/mpi.log | tee -a $(BUILD)/mpi.log
	$(call record,mpi,$(BUILD)/mpi.log)

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

# ---- install: segloss.h, the licence, a pkg-config file and a CMake package (docs/install.md)
#        make install [PREFIX=/usr/local] [DESTDIR=staging] [SIMDE_INCLUDE=dir]
#      Header only: nothing is built. The package files come from cmake/*.in through sed, so no
#      CMake is needed; their version is SEGLOSS_VERSION_* of segloss.h. SIMDE_INCLUDE: SIMDe's
#      include directory where the compiler does not find it by itself; it goes into segloss.pc's
#      Cflags and the CMake package's search hints. uninstall removes what install wrote.
PREFIX        ?= /usr/local
DESTDIR       ?=
SIMDE_INCLUDE ?=
INSTALL       ?= install
INST_INC   = $(PREFIX)/include
INST_DOC   = $(PREFIX)/share/doc/segloss
INST_PC    = $(PREFIX)/share/pkgconfig
INST_CMAKE = $(PREFIX)/share/cmake/segloss
INST_FILES = $(INST_INC)/segloss.h $(INST_DOC)/LICENSE $(INST_PC)/segloss.pc \
             $(INST_CMAKE)/seglossConfig.cmake $(INST_CMAKE)/seglossConfigVersion.cmake
seg_version = $(shell sed -n 's/^.define SEGLOSS_VERSION_$(1)  *\([0-9][0-9]*\) *$$/\1/p' segloss.h)
INST_SED = sed -e 's|@SEGLOSS_VERSION@|$(call seg_version,MAJOR).$(call seg_version,MINOR).$(call seg_version,PATCH)|g' \
               -e 's|@SEGLOSS_VERSION_MAJOR@|$(call seg_version,MAJOR)|g' \
               -e 's|@SEGLOSS_VERSION_MINOR@|$(call seg_version,MINOR)|g' \
               -e 's|@SEGLOSS_PREFIX@|$(PREFIX)|g' -e 's|@SEGLOSS_INCLUDE_REL@|include|g' \
               -e 's|@SEGLOSS_CONFIG_TO_PREFIX@|../../..|g' -e 's|@SEGLOSS_SIMDE_DIR@|$(SIMDE_INCLUDE)|g' \
               -e 's|@SEGLOSS_SIMDE_CFLAGS@|$(if $(SIMDE_INCLUDE), -I$(SIMDE_INCLUDE))|g'
.PHONY: install uninstall
install: segloss.h
	@[ -n "$(SIMDE_INCLUDE)" ] || printf '#include <simde/x86/avx2.h>\n' | $(CC) -E -x c - > /dev/null 2>&1 || \
	 echo "warning: $(CC) does not find SIMDe (simde/x86/avx2.h), which programs using segloss need:" \
	      "install it (Debian/Ubuntu: apt install libsimde-dev) or pass SIMDE_INCLUDE=dir" >&2
	$(INSTALL) -d $(DESTDIR)$(INST_INC) $(DESTDIR)$(INST_DOC) $(DESTDIR)$(INST_PC) $(DESTDIR)$(INST_CMAKE)
	$(INSTALL) -m 644 segloss.h $(DESTDIR)$(INST_INC)/segloss.h
	$(INSTALL) -m 644 LICENSE $(DESTDIR)$(INST_DOC)/LICENSE
	$(INST_SED) cmake/segloss.pc.in > $(DESTDIR)$(INST_PC)/segloss.pc
	$(INST_SED) cmake/seglossConfig.cmake.in > $(DESTDIR)$(INST_CMAKE)/seglossConfig.cmake
	$(INST_SED) cmake/seglossConfigVersion.cmake.in > $(DESTDIR)$(INST_CMAKE)/seglossConfigVersion.cmake
	chmod 644 $(DESTDIR)$(INST_PC)/segloss.pc $(DESTDIR)$(INST_CMAKE)/seglossConfig*.cmake
# The directories named segloss go too, when empty; include/ and share/pkgconfig/ stay.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INST_FILES))
	@rmdir $(DESTDIR)$(INST_DOC) $(DESTDIR)$(INST_CMAKE) 2>/dev/null || true

# ---- consumers: a C and a C++ program built against an install in a temporary prefix through
#      pkg-config and find_package, and through add_subdirectory of this tree; the versions of
#      segloss.h, segloss.pc, the CMake package and CHANGELOG.md agree (tests/consumers/) ----
EXTRA_TESTS += test-consumers
.PHONY: test-consumers
test-consumers: segloss.h
	sh tests/consumers/run.sh $(BUILD)/consumers > $(BUILD)/consumers.log 2>&1; tail -n 30 $(BUILD)/consumers.log
	$(call record,consumers,$(BUILD)/consumers.log)

include examples/demo.mk
include bench/bench.mk
include tests/reliability.mk
include python/python.mk
