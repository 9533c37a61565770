/* The implementation translation unit of the benchmarks, compiled exactly as users compile it:
   plain C, -O2, no -march (the SIMD paths are selected at run time). */
#define SEGLOSS_IMPLEMENTATION
#include "../segloss.h"
