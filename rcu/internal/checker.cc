#include "rcu/internal/checker.h"

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

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

// Objects the checker knows of, by address: published ones (some Published holds them),
// unpublished ones (published once, no holder left) and retired ones. Entries of objects freed
// without a Retire() linger until their memory is published or retired again (then every entry
// overlapping it is dropped): they can hide a misuse, never report a false one.
struct Object {
  size_t bytes = 1;
  bool retired = false;
};

struct Tracker {
  std::mutex mu;
  std::map<const char*, Object> objects;                              // guarded by mu
  std::unordered_map<const void*, std::vector<const void*>> holders;  // guarded by mu

  static const char* Address(const void* p) { return static_cast<const char*>(p); }

  // Forgets every object overlapping [p, p + bytes) other than one starting at p: their memory
  // has been reused.
  void DropOverlapping(const void* p, size_t bytes) {
    const char* begin = Address(p);
    auto it = objects.lower_bound(begin);
    if (it != objects.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second.bytes > begin) objects.erase(prev);
    }
    while (it != objects.end() && it->first < begin + bytes) {
      it = it->first == begin ? std::next(it) : objects.erase(it);
    }
  }

  // Whether readers can still reach the Published at `holder`: it is not inside a known object
  // (a global, a stack or an untracked heap object: a root), or it is inside a published object
  // that is itself reachable.
  bool Reachable(const void* holder, int depth = 0) const {
    auto it = objects.upper_bound(Address(holder));
    if (it == objects.begin()) return true;
    --it;
    if (Address(holder) >= it->first + it->second.bytes) return true;
    if (it->second.retired) return false;
    auto h = holders.find(it->first);
    if (h == holders.end()) return false;  // unpublished
    if (depth > 16) return true;
    for (const void* outer : h->second) {
      if (Reachable(outer, depth + 1)) return true;
    }
    return false;
  }
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

void NoteRetired(const void* p, size_t bytes, bool check_double_retire,
                 const SourceLocation& where) {
  Tracker& t = GetTracker();
  std::lock_guard<std::mutex> lock(t.mu);
  if (auto h = t.holders.find(p); h != t.holders.end()) {
    for (const void* holder : h->second) {
      if (t.Reachable(holder)) {
        Die(where,
            "R9: retiring %p while an rcu::Published still holds it: unpublish first (Exchange, "
            "Replace or Assign another value), then retire",
            p);
      }
    }
  }
  auto it = t.objects.find(Tracker::Address(p));
  if (check_double_retire && it != t.objects.end() && it->second.retired) {
    Die(where, "R7: double retire: %p was retired before and its deleter has not run yet", p);
  }
  t.DropOverlapping(p, bytes);
  t.objects[Tracker::Address(p)] = Object{bytes, /*retired=*/true};
  g_tracking_retired.store(true, std::memory_order_relaxed);
}

void ForgetRetired(const void* p) {
  if (!g_tracking_retired.load(std::memory_order_relaxed)) return;
  Tracker& t = GetTracker();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.objects.find(Tracker::Address(p));
  if (it != t.objects.end() && it->second.retired) t.objects.erase(it);
}

PublishedUpdate::PublishedUpdate() { GetTracker().mu.lock(); }
PublishedUpdate::~PublishedUpdate() { GetTracker().mu.unlock(); }

void PublishedUpdate::Note(const void* holder, const void* old_value, const void* new_value,
                           size_t new_bytes) {
  if (old_value == new_value) return;
  Tracker& t = GetTracker();
  if (old_value != nullptr) {
    auto h = t.holders.find(old_value);
    if (h != t.holders.end()) {
      auto pos = std::find(h->second.begin(), h->second.end(), holder);
      if (pos != h->second.end()) h->second.erase(pos);
      if (h->second.empty()) t.holders.erase(h);  // unpublished: its Publisheds are unreachable
    }
  }
  if (new_value != nullptr) {
    t.holders[new_value].push_back(holder);
    auto it = t.objects.find(Tracker::Address(new_value));
    if (it == t.objects.end() || it->second.bytes != new_bytes) {
      t.DropOverlapping(new_value, new_bytes);
      t.objects[Tracker::Address(new_value)] = Object{new_bytes, /*retired=*/false};
    }
  }
}

void LockCheckerForFork() { GetTracker().mu.lock(); }
void UnlockCheckerAfterFork() { GetTracker().mu.unlock(); }

}  // namespace internal
}  // namespace rcu
