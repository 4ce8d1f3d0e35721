// Not part of the public API; include "rcu/domain.h".
//
// The call site a misuse report names, with std::source_location's interface, built on
// __builtin_FILE/LINE/FUNCTION, which g++ and clang both evaluate at the call site when used as
// default arguments. Not std::source_location itself: clang 14 with libstdc++ 12 lacks it, and a
// type that depended on the compiler would give the library's functions different mangled names
// under g++ and clang, so a program compiled with one could not link a library built with the
// other (tools/cmake_check.sh builds a clang program against a g++-built install).

#ifndef RCU_INTERNAL_SOURCE_LOCATION_H_
#define RCU_INTERNAL_SOURCE_LOCATION_H_

#include "rcu/version.h"

namespace rcu::internal {

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

}  // namespace rcu::internal

#endif  // RCU_INTERNAL_SOURCE_LOCATION_H_
