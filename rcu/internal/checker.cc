#include "rcu/internal/checker.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "rcu/diagnostics.h"

namespace rcu {
namespace {

std::atomic<ReportHandler> g_handler{nullptr};

}  // namespace

ReportHandler SetReportHandler(ReportHandler handler) {
  return g_handler.exchange(handler, std::memory_order_acq_rel);
}

namespace internal {
namespace {

struct Tracker {
  std::mutex mu;
  std::unordered_set<const void*> retired;           // guarded by mu
  std::unordered_map<const void*, int> published;    // guarded by mu; value: how many hold it
};

// Never destroyed: Published objects with static storage duration outlive every destructor.
Tracker& GetTracker() {
  static Tracker* tracker = new Tracker;
  return *tracker;
}

// Whether NoteRetired() was ever called: keeps ForgetRetired() free for programs (or library
// builds) without debug checks.
std::atomic<bool> g_tracking_retired{false};

}  // namespace

void Die(const SourceLocation& where, const char* format, ...) {
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

void Report(const char* format, ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  ReportHandler handler = g_handler.load(std::memory_order_acquire);
  if (handler != nullptr) {
    handler(message);
  } else {
    std::fprintf(stderr, "%s\n", message);
  }
}

void NoteRetired(const void* p, bool check_double_retire, const SourceLocation& where) {
  Tracker& t = GetTracker();
  std::lock_guard<std::mutex> lock(t.mu);
  if (t.published.count(p) != 0) {
    Die(where,
        "R9: retiring %p while an rcu::Published still holds it: unpublish first (Exchange, "
        "Replace or Assign another value), then retire",
        p);
  }
  if (!check_double_retire) return;
  if (!t.retired.insert(p).second) {
    Die(where, "R7: double retire: %p was retired before and its deleter has not run yet", p);
  }
  g_tracking_retired.store(true, std::memory_order_relaxed);
}

void ForgetRetired(const void* p) {
  if (!g_tracking_retired.load(std::memory_order_relaxed)) return;
  Tracker& t = GetTracker();
  std::lock_guard<std::mutex> lock(t.mu);
  t.retired.erase(p);
}

void NotePublished(const void* old_value, const void* new_value) {
  if (old_value == new_value) return;
  Tracker& t = GetTracker();
  std::lock_guard<std::mutex> lock(t.mu);
  if (old_value != nullptr) {
    auto it = t.published.find(old_value);
    if (it != t.published.end() && --it->second == 0) t.published.erase(it);
  }
  if (new_value != nullptr) ++t.published[new_value];
}

}  // namespace internal
}  // namespace rcu
