// Catch2's main. The implementation lives in tests/unit/segloss_impl.cpp.
#define CATCH_CONFIG_MAIN
#include "catch2/catch.hpp"
