# segloss — build, test, bench, demo. `make test` runs everything the CI runs.
CC      ?= cc
CXX     ?= c++
CFLAGS  ?= -O2
WARN     = -Wall -Wextra -Wpedantic -Werror
BUILD   ?= build

# segloss.h is assembled from these, in this order (see kernels/api.h for the map).
PARTS = api.h impl.h isa_avx2.h isa_avx512.h isa_neon.h isa_scalar.h dispatch.h driver.h \
        text.h metrics.h impl_end.h loss_kernels.h license.h
SOURCES = $(addprefix kernels/,$(PARTS))

segloss.h: $(SOURCES)
	cat $(SOURCES) > $@

.PHONY: all test check-header clean
all: segloss.h

# The committed header must be exactly what the parts assemble to.
check-header:
	@cat $(SOURCES) | cmp -s - segloss.h || { echo "segloss.h is stale: run make segloss.h and commit it"; exit 1; }
	@echo "check-header: segloss.h matches kernels/"

clean:
	rm -rf $(BUILD)

# ---- the test harness (Catch2 v2) --------------------------------------------------------
CXXFLAGS_T = -std=c++11 -O2 -Wall -Wextra -Werror -I/usr/include
TEST_OBJS  = $(patsubst tests/%.cpp,$(BUILD)/tests/%.o,$(wildcard tests/*.cpp))

$(BUILD)/tests/%.o: tests/%.cpp segloss.h $(wildcard tests/*.hpp)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_T) -c $< -o $@

$(BUILD)/test_segloss: $(TEST_OBJS)
	$(CXX) $(TEST_OBJS) -o $@ -lm -lpthread

.PHONY: test-unit
test-unit: $(BUILD)/test_segloss
	$(BUILD)/test_segloss
