// Not part of the public API; include "rcu/domain.h".
//
// The call site a misuse report names. std::source_location where the standard library has it;
// clang 14 with libstdc++ 12 does not (it lacks __builtin_source_location), so there the same
// interface is built on __builtin_FILE/LINE/FUNCTION, which both compilers evaluate at the call
// site when used as default arguments.

#ifndef RCU_INTERNAL_SOURCE_LOCATION_H_
#define RCU_INTERNAL_SOURCE_LOCATION_H_

#include <version>

#include "rcu/version.h"

#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace rcu::internal {

#if defined(__cpp_lib_source_location)
using SourceLocation = std::source_location;
#else
class SourceLocation {
 public:
  static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                          unsigned line = __builtin_LINE(),
                                          const char* function = __builtin_FUNCTION()) noexcept {
    return SourceLocation(file, line, function);
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr unsigned line() const noexcept { return line_; }
  constexpr const char* function_name() const noexcept { return function_; }

 private:
  constexpr SourceLocation(const char* file, unsigned line, const char* function)
      : file_(file), line_(line), function_(function) {}
  const char* file_;
  unsigned line_;
  const char* function_;
};
#endif

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_SOURCE_LOCATION_H_
