/* The implementation translation unit of the two-TU build checks (tests/probe.c is the user). */
#define SEGLOSS_IMPLEMENTATION
#include "../../segloss.h"
