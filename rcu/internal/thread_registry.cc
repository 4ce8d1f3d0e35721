#include "rcu/internal/thread_registry.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "rcu/internal/checker.h"
#include "rcu/internal/mutex.h"
#include "rcu/internal/signal_safe_memory.h"
#include "rcu/internal/sys.h"

namespace rcu::internal {

constinit thread_local StateCache tls_state_cache = {};

namespace {

// A thread's table of its states, indexed by registry id (signal-safe memory; the entries
// follow the header).
struct TableEntry {
  uint64_t serial;  // 0: none
  ThreadState* state;
};
struct ThreadTable {
  uint64_t capacity;
  TableEntry* entries() { return reinterpret_cast<TableEntry*>(this + 1); }
  static size_t Bytes(uint64_t capacity) {
    return sizeof(ThreadTable) + capacity * sizeof(TableEntry);
  }
};

constinit thread_local ThreadTable* tls_table ABSL_ATTRIBUTE_INITIAL_EXEC = nullptr;

// Live registries by id, for departing threads (which must not touch a destroyed domain's
// states) and fork(). Never destroyed: domains outlive statics.
struct Registries {
  Mutex mu;
  std::vector<ThreadRegistry*> by_id ABSL_GUARDED_BY(mu);
  std::vector<uint32_t> free_ids ABSL_GUARDED_BY(mu);
  uint64_t next_serial ABSL_GUARDED_BY(mu) = 1;
};
Registries& All() {
  static Registries* registries = new Registries;
  return *registries;
}

pthread_key_t Key() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, &DepartThread) != 0) {
      std::fprintf(stderr, "rcu: pthread_key_create failed\n");
      std::abort();
    }
    return k;
  }();
  return key;
}
// Created at load time, so that no registration (perhaps in a signal handler) has to.
[[maybe_unused]] const pthread_key_t g_key_at_load = Key();

}  // namespace

ThreadRegistry::Identity ThreadRegistry::NewIdentity(ThreadRegistry* registry) {
  Registries& all = All();
  MutexLock lock(all.mu);
  Identity identity{all.next_serial++, 0};
  if (!all.free_ids.empty()) {
    identity.id = all.free_ids.back();
    all.free_ids.pop_back();
    all.by_id[identity.id] = registry;
  } else {
    identity.id = static_cast<uint32_t>(all.by_id.size());
    all.by_id.push_back(registry);
  }
  return identity;
}

namespace {

// Blocks every signal for its scope: a handler sees the thread's table and cache either before
// or after a change, never during one.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous_);
  }
  ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

 private:
  sigset_t previous_;
};

// Blocks every signal but those a fault raises (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP),
// for good.
void BlockSignalsForExit() {
  sigset_t set;
  sigfillset(&set);
  for (int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP}) sigdelset(&set, fault);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void Clear(CachedState& c) {
  c.key.store(nullptr, std::memory_order_relaxed);
  c.state.store(nullptr, std::memory_order_relaxed);
}

void ClearCache() {
  Clear(tls_state_cache.recent);
  for (CachedState& c : tls_state_cache.ways) Clear(c);
}

// Forgets `key` in a cache another thread may be using (for other domains) right now.
void Forget(CachedState& c, const void* key) {
  c.key.compare_exchange_strong(key, nullptr, std::memory_order_relaxed);
}

}  // namespace

ThreadRegistry::ThreadRegistry(bool fallback_fence)
    : ThreadRegistry(NewIdentity(this), fallback_fence) {}

ThreadRegistry::ThreadRegistry(Identity identity, bool fallback_fence)
    : serial_(identity.serial), id_(identity.id), fallback_fence_(fallback_fence) {}

ThreadRegistry::~ThreadRegistry() {
  SignalsBlocked blocked;
  Registries& all = All();
  MutexLock all_lock(all.mu);  // departing threads skip this registry from here
  all.by_id[id_] = nullptr;
  all.free_ids.push_back(id_);
  MutexLock lock(mu_);
  // Threads that still have this domain in their tables never dereference those entries again
  // (the serial is not reused), and their caches forget its address, which a new domain may get.
  // Every listed thread is alive: a departing one waits for all.mu, and its TLS outlives that.
  for (ThreadState* s = head_.load(std::memory_order_relaxed); s != nullptr;) {
    Forget(s->reader.cache->recent, this);
    Forget(s->reader.cache->ways[Way()], this);
    ThreadState* next = s->reader.next.load(std::memory_order_relaxed);
    FreeSignalSafe(s, sizeof(ThreadState));
    s = next;
  }
  for (ThreadState* s = limbo_; s != nullptr;) {
    ThreadState* next = s->reader.limbo_next;
    FreeSignalSafe(s, sizeof(ThreadState));
    s = next;
  }
}

ThreadState* ThreadRegistry::MineSlowPath(bool register_if_absent) {
  CachedState& way = tls_state_cache.ways[Way()];
  if (way.key.load(std::memory_order_relaxed) == this) {
    ThreadState* s = way.state.load(std::memory_order_relaxed);
    Cache(tls_state_cache.recent, s);
    return s;
  }
  ThreadTable* table = tls_table;
  if (table != nullptr && id_ < table->capacity) {
    const TableEntry& entry = table->entries()[id_];
    if (entry.serial == serial_) {
      Cache(way, entry.state);
      Cache(tls_state_cache.recent, entry.state);
      return entry.state;
    }
  }
  return register_if_absent ? Register() : nullptr;
}

ThreadState* ThreadRegistry::Register() {
  SignalsBlocked blocked;
  // A handler may have registered this thread before signals were blocked.
  if (ThreadState* s = MineSlowPath(/*register_if_absent=*/false)) return s;
  ThreadTable* table = tls_table;
  if (table == nullptr || id_ >= table->capacity) {
    uint64_t capacity = table == nullptr ? kCacheWays : table->capacity;
    while (capacity <= id_) capacity *= 2;
    auto* grown = new (AllocateSignalSafe(ThreadTable::Bytes(capacity))) ThreadTable{capacity};
    if (table != nullptr) {
      for (uint64_t i = 0; i < table->capacity; ++i) grown->entries()[i] = table->entries()[i];
      FreeSignalSafe(table, ThreadTable::Bytes(table->capacity));
    }
    table = tls_table = grown;
    pthread_setspecific(Key(), table);
  }
  auto* s = new (AllocateSignalSafe(sizeof(ThreadState))) ThreadState;
  if (fallback_fence_) s->reader.exit.store(kFallbackFence, std::memory_order_relaxed);
  s->reader.tid = CurrentTid();
  s->reader.owner = table;
  ThreadState* head = head_.load(std::memory_order_relaxed);
  do {
    s->reader.next.store(head, std::memory_order_relaxed);
  } while (
      !head_.compare_exchange_weak(head, s, std::memory_order_release, std::memory_order_relaxed));
  live_.fetch_add(1, std::memory_order_seq_cst);
  // [S2] pairs with [S1] (grace_periods.cc): a grace period that did not count this thread
  // skipped no reader of what it waited for.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  s->reader.cache = &tls_state_cache;
  table->entries()[id_] = {serial_, s};
  Cache(tls_state_cache.ways[Way()], s);
  Cache(tls_state_cache.recent, s);
  return s;
}

void ThreadRegistry::Cache(CachedState& cached, ThreadState* s) {
  // Key cleared, state, key: a handler that interrupts in between finds the entry missing (and
  // refills it itself), never a key with another domain's state.
  cached.key.store(nullptr, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  cached.state.store(s, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  cached.key.store(this, std::memory_order_relaxed);
}

bool ThreadRegistry::OthersRegistered() const {
  const int64_t self = FindMine() != nullptr ? 1 : 0;
  return live_.load(std::memory_order_seq_cst) > self;
}

void ThreadRegistry::Depart(ThreadState* s, bool report) {
  ReaderLine& reader = s->reader;
  reader.nested_locks = 0;
  reader.debug_depth = 0;
  reader.debug_locks = 0;
  if (reader.ctr.load(std::memory_order_relaxed) != 0) {
    if (report) {
      Report(
          "R6: thread %d exited inside a read-side section of domain %u; the section was "
          "ended for it",
          reader.tid, id_);
    }
    reader.ctr.store(0, std::memory_order_seq_cst);
    WakeWaiter();
  }
  // What the thread queued stays queued, after what departed before it.
  QueueLine& queue = s->queue;
  if (RetireBlock* chain = queue.head.exchange(nullptr, std::memory_order_acquire)) {
    departed_.Splice(chain, queue.tail);
  }
  departed_.queued.fetch_add(queue.queued.load(std::memory_order_relaxed),
                             std::memory_order_relaxed);
  departed_.queued_bytes.fetch_add(queue.queued_bytes.load(std::memory_order_relaxed),
                                   std::memory_order_relaxed);
  Unlink(s);
  live_.fetch_sub(1, std::memory_order_seq_cst);
  reader.limbo_next = limbo_;
  limbo_ = s;
  limbo_nonempty_.store(true, std::memory_order_relaxed);
}

void ThreadRegistry::Unlink(ThreadState* s) {
  // Registration only ever replaces the head; every other link changes only under mu_.
  ThreadState* const next = s->reader.next.load(std::memory_order_relaxed);
  ThreadState* expected = s;
  if (head_.compare_exchange_strong(expected, next, std::memory_order_release,
                                    std::memory_order_acquire)) {
    return;
  }
  for (ThreadState* p = expected; p != nullptr;
       p = p->reader.next.load(std::memory_order_relaxed)) {
    if (p->reader.next.load(std::memory_order_relaxed) == s) {
      // A scan standing on `s` still follows s->next, which is left as it was.
      p->reader.next.store(next, std::memory_order_release);
      return;
    }
  }
}

void ThreadRegistry::Reclaim() {
  // A departure that sets the flag after this load is freed by the next grace period.
  if (!limbo_nonempty_.load(std::memory_order_relaxed)) return;
  ThreadState* limbo;
  {
    MutexLock lock(mu_);
    limbo = limbo_;
    limbo_ = nullptr;
    limbo_nonempty_.store(false, std::memory_order_relaxed);
  }
  if (limbo == nullptr) return;
  SignalsBlocked blocked;
  while (limbo != nullptr) {
    ThreadState* next = limbo->reader.limbo_next;
    FreeSignalSafe(limbo, sizeof(ThreadState));
    limbo = next;
  }
}

void ThreadRegistry::WakeWaiter() {
  wake_.word.fetch_add(1, std::memory_order_release);
  FutexWakeAll(&wake_.word);
}

void DepartThread(void* arg) {
  auto* table = static_cast<ThreadTable*>(arg);
  // Signals stay blocked for the rest of the thread's exit: a handler that ran a section after
  // this would register the thread again, after its key destructor's last round, and nothing
  // would make that registration depart (every later grace period would scan for it). glibc
  // blocks them itself a little later in thread exit; a thread-directed signal that arrives
  // meanwhile is dropped with the thread, and a process-directed one goes to another thread.
  // The signals a fault raises stay unblocked: blocked, they would kill the process unhandled.
  BlockSignalsForExit();
  {
    Registries& all = All();
    MutexLock lock(all.mu);
    for (uint64_t id = 0; id < table->capacity; ++id) {
      const TableEntry& entry = table->entries()[id];
      if (entry.serial == 0 || id >= all.by_id.size()) continue;
      ThreadRegistry* registry = all.by_id[id];
      if (registry == nullptr || registry->serial_ != entry.serial) continue;  // destroyed
      MutexLock registry_lock(registry->mu_);
      registry->Depart(entry.state, /*report=*/true);
    }
  }
  ClearCache();
  tls_table = nullptr;
  FreeSignalSafe(table, ThreadTable::Bytes(table->capacity));
}

void ThreadRegistry::LockAllForFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registries& all = All();
  all.mu.lock();
  for (ThreadRegistry* r : all.by_id) {
    if (r != nullptr) r->mu_.lock();
  }
  LockSignalSafeMemoryForFork();
}

void ThreadRegistry::UnlockAllAfterFork(bool child) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  UnlockSignalSafeMemoryAfterFork();
  Registries& all = All();
  for (ThreadRegistry* r : all.by_id) {
    if (r == nullptr) continue;
    if (child) {
      // Only the forking thread survived: every other thread's state departs (its section
      // ended, its queue kept, no report: those threads did not exit, they do not exist here).
      int64_t live = 0;
      for (ThreadState* s = r->head_.load(std::memory_order_relaxed); s != nullptr;) {
        ThreadState* next = s->reader.next.load(std::memory_order_relaxed);
        if (s->reader.owner != tls_table) {
          r->Depart(s, /*report=*/false);
        } else {
          ++live;
        }
        s = next;
      }
      // Recounted: a thread may have been between its push and its count when fork() struck.
      r->live_.store(live, std::memory_order_seq_cst);
    }
    r->mu_.unlock();
  }
  all.mu.unlock();
}

}  // namespace rcu::internal
