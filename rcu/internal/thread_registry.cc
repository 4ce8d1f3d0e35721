#include "rcu/internal/thread_registry.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <new>

#include "rcu/internal/checker.h"
#include "rcu/internal/sys.h"

namespace rcu::internal {

constinit thread_local ThreadRecord* tls_record = nullptr;

namespace {

std::atomic<ThreadRecord*> g_head{nullptr};
std::atomic<int> g_registered{0};

struct alignas(64) PaddedWord {
  std::atomic<uint32_t> word{0};
};
PaddedWord g_slot_wake[kMaxDomains];

void EndSectionsOf(ThreadRecord* r, bool report) {
  for (int slot = 0; slot < kMaxDomains; ++slot) {
    r->lock_depth[slot] = 0;
    r->lock_owns[slot] = false;
    r->debug_depth[slot] = 0;
    r->reader[slot].exit.fetch_and(~kWakeRequested, std::memory_order_relaxed);
    if (r->reader[slot].ctr.load(std::memory_order_relaxed) == 0) continue;
    if (report) {
      Report("R6: thread %d exited inside a read-side section of domain slot %d; the section "
             "was ended for it",
             r->tid.load(std::memory_order_relaxed), slot);
    }
    r->reader[slot].ctr.store(0, std::memory_order_seq_cst);
    WakeSlot(slot);
  }
}

void Unregister(void* arg) {
  auto* r = static_cast<ThreadRecord*>(arg);
  EndSectionsOf(r, /*report=*/true);
  tls_record = nullptr;
  g_registered.fetch_sub(1, std::memory_order_seq_cst);
  r->in_use.store(false, std::memory_order_release);
}

pthread_key_t Key() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, &Unregister) != 0) {
      std::fprintf(stderr, "rcu: pthread_key_create failed\n");
      std::abort();
    }
    return k;
  }();
  return key;
}
// Created at load time, so that no registration (perhaps in a signal handler) has to.
[[maybe_unused]] const pthread_key_t g_key_at_load = Key();

// A free record to reuse, or a new one from mmap() (async-signal-safe, unlike malloc()).
ThreadRecord* AcquireRecord() {
  for (ThreadRecord* c = g_head.load(std::memory_order_acquire); c != nullptr; c = c->next) {
    bool expected = false;
    if (!c->in_use.load(std::memory_order_relaxed) &&
        c->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      return c;
    }
  }
  void* memory = mmap(nullptr, sizeof(ThreadRecord), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    std::fprintf(stderr, "rcu: cannot allocate a thread record\n");
    std::abort();
  }
  auto* r = new (memory) ThreadRecord;
  if (!LightReadersEnabled()) {
    for (ReaderState& reader : r->reader) reader.exit.store(kFallbackFence, std::memory_order_relaxed);
  }
  r->in_use.store(true, std::memory_order_relaxed);
  ThreadRecord* head = g_head.load(std::memory_order_relaxed);
  do {
    r->next = head;
  } while (!g_head.compare_exchange_weak(head, r, std::memory_order_release,
                                         std::memory_order_relaxed));
  return r;
}

}  // namespace

ThreadRecord* RegisterThisThread() {
  // With signals blocked, a handler sees this thread either unregistered (and registers it
  // itself, completely, before we get here) or registered.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  if (tls_record == nullptr) {
    ThreadRecord* r = AcquireRecord();
    r->tid.store(CurrentTid(), std::memory_order_relaxed);
    g_registered.fetch_add(1, std::memory_order_seq_cst);
    // [S2] pairs with RunGracePeriod's [S1] (domain.cc): a grace period that did not count this
    // thread skipped no reader of what it waited for.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    pthread_setspecific(Key(), r);
    tls_record = r;
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return tls_record;
}

ThreadRecord* RegistryHead() { return g_head.load(std::memory_order_acquire); }

bool OtherThreadsRegistered() {
  const int self = tls_record != nullptr ? 1 : 0;
  return g_registered.load(std::memory_order_seq_cst) > self;
}

std::atomic<uint32_t>& SlotWakeWord(int slot) { return g_slot_wake[slot].word; }

void WakeSlot(int slot) {
  g_slot_wake[slot].word.fetch_add(1, std::memory_order_release);
  FutexWakeAll(&g_slot_wake[slot].word);
}

void RegistryAfterForkInChild() {
  int live = 0;
  for (ThreadRecord* r = g_head.load(std::memory_order_acquire); r != nullptr; r = r->next) {
    if (r == tls_record) {
      ++live;
      continue;
    }
    EndSectionsOf(r, /*report=*/false);
    r->in_use.store(false, std::memory_order_relaxed);
  }
  g_registered.store(live, std::memory_order_seq_cst);
}

}  // namespace rcu::internal
