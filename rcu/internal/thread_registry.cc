#include "rcu/internal/thread_registry.h"

#include <pthread.h>

#include <bitset>
#include <cstdio>
#include <cstdlib>
#include <mutex>

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

std::mutex g_slots_mu;
std::bitset<kMaxDomains> g_slots_used;  // guarded by g_slots_mu

void EndSectionsOf(ThreadRecord* r, bool report) {
  for (int slot = 0; slot < kMaxDomains; ++slot) {
    r->lock_depth[slot] = 0;
    r->lock_owns[slot] = false;
    r->debug_depth[slot] = 0;
    if (r->ctr[slot].load(std::memory_order_relaxed) == 0) continue;
    if (report) {
      Report("R6: thread %d exited inside a read-side section of domain slot %d; the section "
             "was ended for it",
             r->tid.load(std::memory_order_relaxed), slot);
    }
    r->ctr[slot].store(0, std::memory_order_seq_cst);
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

// In a child of fork() only the forking thread survives: every other record is released.
void AfterForkInChild() {
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

pthread_key_t CreateKey() {
  pthread_key_t key;
  if (pthread_key_create(&key, &Unregister) != 0) {
    std::fprintf(stderr, "rcu: pthread_key_create failed\n");
    std::abort();
  }
  pthread_atfork(nullptr, nullptr, &AfterForkInChild);
  return key;
}

}  // namespace

ThreadRecord* RegisterThisThread() {
  static const pthread_key_t key = CreateKey();
  ThreadRecord* r = nullptr;
  for (ThreadRecord* c = g_head.load(std::memory_order_acquire); c != nullptr; c = c->next) {
    bool expected = false;
    if (!c->in_use.load(std::memory_order_relaxed) &&
        c->in_use.compare_exchange_strong(expected, true, std::memory_order_seq_cst)) {
      r = c;
      break;
    }
  }
  if (r == nullptr) {
    r = new ThreadRecord;
    r->in_use.store(true, std::memory_order_relaxed);
    ThreadRecord* head = g_head.load(std::memory_order_relaxed);
    do {
      r->next = head;
    } while (!g_head.compare_exchange_weak(head, r, std::memory_order_release,
                                           std::memory_order_relaxed));
  }
  r->tid.store(CurrentTid(), std::memory_order_relaxed);
  g_registered.fetch_add(1, std::memory_order_seq_cst);
  pthread_setspecific(key, r);
  tls_record = r;
  return r;
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

int AcquireDomainSlot() {
  std::lock_guard<std::mutex> lock(g_slots_mu);
  for (int slot = 0; slot < kMaxDomains; ++slot) {
    if (!g_slots_used[slot]) {
      g_slots_used[slot] = true;
      return slot;
    }
  }
  std::fprintf(stderr, "rcu: more than %d rcu::Domain objects alive at once\n", kMaxDomains);
  std::abort();
}

void ReleaseDomainSlot(int slot) {
  std::lock_guard<std::mutex> lock(g_slots_mu);
  g_slots_used[slot] = false;
}

}  // namespace rcu::internal
