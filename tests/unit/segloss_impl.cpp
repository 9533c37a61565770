// The one translation unit with the implementation, compiled as C++ (itself a build check).
// Gradients of 4 KiB and more take the non-temporal path (16 MiB by default), so that the
// tests' inputs exercise both kinds of stores.
#define SEGLOSS_STREAM_BYTES 4096u
#define SEGLOSS_IMPLEMENTATION
#include "../../segloss.h"
