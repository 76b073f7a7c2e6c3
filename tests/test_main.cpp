// The one translation unit per test executable that provides CAF's test runner `main`.
#define CAF_SUITE dmoe_test_main
#include <caf/test/unit_test_impl.hpp>
