/* python/segloss/_lib.c — the shared library the Python package loads (ctypes), built from
   segloss.h the way a user builds it: one file defines SEGLOSS_IMPLEMENTATION, plain -O2, no
   -march (the SIMD path is picked at run time). `make python` runs
       cc -O2 -fPIC -shared -I. python/segloss/_lib.c -o python/segloss/_segloss.so -lm */
#define SEGLOSS_IMPLEMENTATION
#include "segloss.h"
