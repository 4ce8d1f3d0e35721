// Counts the test program's heap allocations: linking allocations.cc into a test replaces the
// global operator new with one that counts (test-only). Used to show that a lookup builds no
// object, e.g. that a lookup by std::string_view builds no std::string.

#ifndef TESTS_TESTING_ALLOCATIONS_H_
#define TESTS_TESTING_ALLOCATIONS_H_

#include <cstdint>

namespace rcu::testutil {

// Allocations through operator new by the calling thread since it started (other threads, the
// domain's callback threads among them, allocate when they will).
uint64_t Allocations();

}  // namespace rcu::testutil

#endif  // TESTS_TESTING_ALLOCATIONS_H_
