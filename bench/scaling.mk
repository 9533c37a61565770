# bench/scaling.mk — thread scaling (bench/scaling.c), included from bench/bench.mk.
#   make bench-scaling   CE and Dice loss+gradient at 64 MiB on 1..nproc threads, beside memcpy
#                        and a non-temporal copy on as many threads; medians of rounds taken in
#                        turns; then the small-call cost behind SEGLOSS_PARALLEL_MIN (~1 min)
SCALING_THREADS ?= $(shell nproc)
SCALING_REPS    ?= 9
.PHONY: bench-scaling
$(BUILD)/bench/scaling: bench/scaling.c segloss.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -DSEGLOSS_PARALLEL_MIN=0 $< -o $@ -lm -lpthread
bench-scaling: $(BUILD)/bench/scaling
	$< $(SCALING_THREADS) $(SCALING_REPS) | tee $(BUILD)/bench/scaling.txt
