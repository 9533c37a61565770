// The one translation unit with the implementation, compiled as C++ (itself a build check).
#define SEGLOSS_IMPLEMENTATION
#include "../segloss.h"
