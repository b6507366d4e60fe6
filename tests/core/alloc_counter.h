// Allocation-counting hook for performance.md P12 (no per-client heap allocation in hot
// loops). algorithms_test.cc replaces the global operator new/delete of the core test
// executable with counting versions; any test of the executable may read the counter.
#pragma once

#include <cstddef>

namespace zipnet::testing {

/// Number of global operator new calls (every form) since the process started.
std::size_t allocation_count();

}  // namespace zipnet::testing
