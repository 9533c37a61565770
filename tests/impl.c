/* tests/impl.c — the implementation translation unit the C test programs link: the two-TU
   build checks (tests/portability/probe.c is the user), the ISA audit, and the sanitized,
   valgrind and stress builds of tests/reliability/ and tests/fuzz/. */
#define SEGLOSS_IMPLEMENTATION
#include "../segloss.h"
