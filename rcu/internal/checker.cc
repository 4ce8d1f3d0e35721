#include "rcu/internal/checker.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace rcu::internal {

void Die(const std::source_location& where, const char* format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  std::fprintf(stderr, "%s (at %s:%u in %s)\n", message, where.file_name(),
               static_cast<unsigned>(where.line()), where.function_name());
  std::fflush(stderr);
  std::abort();
}

}  // namespace rcu::internal
