// Not part of the public API.
//
// The library's build options, fixed per build (as Abseil's absl/base/options.h fixes its own):
// every translation unit of a program, the library's and its users', must see the same values,
// because the headers inline code that depends on them (a mix is an ODR violation).
//
// RCU_DEBUG_CHECKS (0 or 1) selects the checks that cost something on a fast path: the read
//   side's balance and nesting checks (R5), R1's dereference check, R2's owner check, the R7/R9
//   tracking of retired and published pointers. Checks that guard against a deadlock or a lost
//   object on a slow path (R3, R4, R8, R10, R14, R15) are on in every build.
//   The build decides it, once, for the library and everything that depends on it: Bazel's
//   //rcu:options target defines it through `defines` (which reach every dependent) from the
//   compilation mode, on in fastbuild and dbg, off in opt, and `--define=rcu_debug_checks=on`
//   or `=off` overrides that for the whole build. It does not follow NDEBUG per file. A build
//   that does not define it (headers used without the library's build files) gets 0.

#ifndef RCU_INTERNAL_OPTIONS_H_
#define RCU_INTERNAL_OPTIONS_H_

#include "rcu/version.h"

#ifndef RCU_DEBUG_CHECKS
#define RCU_DEBUG_CHECKS 0
#endif

#if RCU_DEBUG_CHECKS != 0 && RCU_DEBUG_CHECKS != 1
#error "RCU_DEBUG_CHECKS must be 0 or 1"
#endif

#endif  // RCU_INTERNAL_OPTIONS_H_
