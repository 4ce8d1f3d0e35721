// Helpers for tests that run a deliberately broken ("busted") variant in a child process and
// require that it is caught. Who catches it depends on the build: ThreadSanitizer reports the
// race with the free, AddressSanitizer the use of freed memory (or the crash on a freed link),
// and a plain build the test's own canary check (the message the test passes in).

#ifndef RCU_TESTS_TESTING_BUSTED_H_
#define RCU_TESTS_TESTING_BUSTED_H_

#include <sys/wait.h>

namespace rcu::testing_support {

// The regular expression the busted child's output must match.
inline const char* Detector(const char* plain_build_message) {
#if defined(__SANITIZE_THREAD__)
  (void)plain_build_message;
  return "ThreadSanitizer: (data race|heap-use-after-free)";
#elif defined(__SANITIZE_ADDRESS__)
  (void)plain_build_message;
  return "AddressSanitizer: (heap-use-after-free|SEGV)";
#else
  return plain_build_message;
#endif
}

// An exit predicate for EXPECT_EXIT: anything but a clean exit 0.
inline bool Failed(int status) { return !(WIFEXITED(status) && WEXITSTATUS(status) == 0); }

}  // namespace rcu::testing_support

#endif  // RCU_TESTS_TESTING_BUSTED_H_
