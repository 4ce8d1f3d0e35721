// Not part of the public API; include "rcu/domain.h".
//
// The debug checker's reporting half: every misuse the library detects at run time ends in
// `Die()`, whose message starts with the rule id from README.md "Rules" (for example
// "R3: Synchronize() called inside ...") and names the caller's source location.
//
// Which checks run is a build option, RCU_DEBUG_CHECKS (options.h): on in `bazel test`
// (fastbuild), off in `-c opt`, the same for every file of a build.

#ifndef RCU_INTERNAL_CHECKER_H_
#define RCU_INTERNAL_CHECKER_H_

#include <cstddef>

#include "absl/base/attributes.h"
#include "rcu/internal/options.h"
#include "rcu/internal/source_location.h"
#include "rcu/version.h"

namespace rcu::internal {

inline constexpr bool kDebugChecks = RCU_DEBUG_CHECKS;

// Prints "<rule message> (at file:line in function)" to stderr and aborts. `format` must start
// with the rule id.
[[noreturn]] void Die(const SourceLocation& where, const char* format, ...)
    ABSL_PRINTF_ATTRIBUTE(2, 3);

// A non-fatal report (R6, R13) through the handler of diagnostics.h.
void Report(const char* format, ...) ABSL_PRINTF_ATTRIBUTE(1, 2);

// Debug tracking of retired and published pointers (RCU_DEBUG_CHECKS builds call these):
//   R7  a pointer retired again before its deleter ran;
//   R9  a pointer retired while an rcu::Published that readers can still reach holds it.
// A Published is out of readers' reach when it lies inside an object that is itself unpublished
// (no Published holds it any more) or retired: retiring the child of an unpublished parent is
// correct, in either order. NoteRetired() checks both rules and remembers [p, p + bytes) as
// retired; ForgetRetired() runs before the deleter. A PublishedUpdate holds the tracker's lock
// across a Published's atomic change and its Note(), which moves the Published at `holder` from
// `old_value` to `new_value` (an object of `new_bytes` bytes): racing Exchange()s are recorded in
// the order they took effect, so no thread's old pointer is believed published still.
void NoteRetired(const void* p, size_t bytes, bool check_double_retire,
                 const SourceLocation& where);
void ForgetRetired(const void* p);

// The R7/R9 bookkeeping of one retire, written once for every retire path (Domain::Retire,
// Retirable, the C++26 facade): Note() when the object is queued, Forget() right before its
// deleter runs, both by the address of the object the deleter destroys, never by the address of
// a CallbackHead queued for it (which differs when the head is not at the object's start). No-ops
// without debug checks.
struct RetireTracking {
  template <typename T>
  static void Note(const T* object, const SourceLocation& where) {
    if (kDebugChecks) NoteRetired(object, sizeof(T), /*check_double_retire=*/true, where);
  }
  static void Forget(const void* object) {
    if (kDebugChecks) ForgetRetired(object);
  }
};
class PublishedUpdate {
 public:
  PublishedUpdate();
  ~PublishedUpdate();
  PublishedUpdate(const PublishedUpdate&) = delete;
  PublishedUpdate& operator=(const PublishedUpdate&) = delete;
  void Note(const void* holder, const void* old_value, const void* new_value, size_t new_bytes);
};

// fork(): the forking thread holds the tracker's lock across fork() (so the child's copy is
// consistent), and releases it in both processes.
void LockCheckerForFork();
void UnlockCheckerAfterFork();

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_CHECKER_H_
