#include "tests/testing/allocations.h"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace {
// Per thread: the domain's callback threads allocate at any time, and a test asks what its own
// calls allocated.
constinit thread_local uint64_t t_allocations = 0;
}  // namespace

void* operator new(std::size_t bytes) {
  ++t_allocations;
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace rcu::testutil {

uint64_t Allocations() { return t_allocations; }

}  // namespace rcu::testutil
