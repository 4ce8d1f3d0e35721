// Relacy models of the core's ordering arguments under the C++ memory model (README "Torture and
// model checking"), and of rcu::HashMap's table. Each model is the algorithm of
// rcu/internal/read_side.h, grace_periods.cc, reclaimer.cc or
// rcu/containers/internal/hash_table.h cut to the accesses one pairing needs, with LightFence()
// and HeavyFence() written as
// what they are in the model: std::atomic_thread_fence(seq_cst) (rcu/internal/sys.h). Objects are
// rl::var, so Relacy reports a use that is not ordered after a free as a data race; lost wake-ups
// are caught by checking, at the end, that a waiter that went to sleep was woken.
//
// Each model has a busted twin (kBusted) that drops the one fence or section the argument rests
// on; the real model must verify and the twin must fail. Exit status 0 when all of that holds.
//
// Build: header-only relacy-dev, -O0 (Relacy misses freed-memory accesses under dead-store
// elimination; BUILD-NOTES.md).

// Standard headers first: relacy.hpp redefines new, delete and malloc for what follows it.
#include <cstdio>
#include <fstream>
#include <relacy/relacy.hpp>

namespace {

// A grace period against one reader: [F1] heavy, a new epoch, then [R1]/[R2]: wait until the
// reader is outside every section, or in one that began after the epoch advanced.
void GracePeriod(rl::atomic<unsigned>& ctr, rl::atomic<unsigned>& epoch) {
  rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [F1] heavy
  const unsigned target = epoch.load(rl::memory_order_relaxed) + 1;
  epoch.store(target, rl::memory_order_relaxed);
  for (;;) {
    const unsigned c = ctr.load(rl::memory_order_acquire);
    if (c == 0 || c >= target) break;
    rl::yield(1, $);
  }
}

// A reader that the grace period must not free from under: [F1] (entry fence against the grace
// period's heavy fence) and [R1]/[R2] (the counter's release stores against the scan's acquire
// loads). Two sections on the reader, so the second may start after the epoch advanced (and is
// then not waited for).
template <bool kBusted>
struct GracePeriodModel : rl::test_suite<GracePeriodModel<kBusted>, 2> {
  rl::atomic<int> published;  // 1: object A, 2: object B
  rl::atomic<unsigned> ctr;
  rl::atomic<unsigned> epoch;
  rl::var<int> a_alive;

  void before() {
    published.store(1, rl::memory_order_relaxed);
    ctr.store(0, rl::memory_order_relaxed);
    epoch.store(1, rl::memory_order_relaxed);
    a_alive($) = 1;
  }

  void thread(unsigned index) {
    if (index == 0) {
      for (int section = 0; section < 2; ++section) {
        ctr.store(epoch.load(rl::memory_order_relaxed), rl::memory_order_release);  // [R1]
        if (!kBusted) rl::atomic_thread_fence(rl::memory_order_seq_cst);            // [F1] light
        if (published.load(rl::memory_order_acquire) == 1) RL_ASSERT(a_alive($) == 1);
        ctr.store(0, rl::memory_order_release);  // [R2]
      }
    } else {
      published.store(2, rl::memory_order_release);  // unpublish A
      GracePeriod(ctr, epoch);
      a_alive($) = 0;  // free A
    }
  }
};

// The grace period that skips its scan because no other thread is registered: [S1] (its fence
// before counting) against [S2] (registration's fence after counting itself). In membarrier mode
// a reader's own fence is only a compiler fence, so the model gives the reader none. The twin is
// the old code: a seq_cst read-modify-write of gp_seq_ instead of the fence.
template <bool kBusted>
struct SkipWhenAloneModel : rl::test_suite<SkipWhenAloneModel<kBusted>, 2> {
  rl::atomic<int> published;
  rl::atomic<int> registered;
  rl::atomic<unsigned> gp_seq;
  rl::var<int> a_alive;

  void before() {
    published.store(1, rl::memory_order_relaxed);
    registered.store(0, rl::memory_order_relaxed);
    gp_seq.store(0, rl::memory_order_relaxed);
    a_alive($) = 1;
  }

  void thread(unsigned index) {
    if (index == 0) {  // a new thread's first section
      registered.fetch_add(1, rl::memory_order_seq_cst);
      rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [S2]
      if (published.load(rl::memory_order_acquire) == 1) RL_ASSERT(a_alive($) == 1);
    } else {
      published.store(2, rl::memory_order_release);
      if (kBusted) {
        gp_seq.exchange(1, rl::memory_order_seq_cst);
      } else {
        gp_seq.exchange(1, rl::memory_order_acq_rel);
        rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [S1]
      }
      if (registered.load(rl::memory_order_seq_cst) == 0) a_alive($) = 0;  // alone: free at once
    }
  }
};

// The sleeping waiter: [F2] (a reader's exit fence against the waiter's heavy fence). The waiter
// asks this reader to wake it, then sleeps unless the reader has left; the reader, leaving,
// wakes it only if asked. A lost wake-up is a waiter asleep on a word nobody changed.
template <bool kBusted>
struct SleepingWaiterModel : rl::test_suite<SleepingWaiterModel<kBusted>, 2> {
  rl::atomic<unsigned> ctr;
  rl::atomic<unsigned> wake;
  rl::atomic<unsigned> word;
  rl::var<bool> slept;
  rl::var<unsigned> slept_on;

  void before() {
    ctr.store(1, rl::memory_order_relaxed);  // the reader is inside
    wake.store(0, rl::memory_order_relaxed);
    word.store(0, rl::memory_order_relaxed);
    slept($) = false;
  }

  void thread(unsigned index) {
    if (index == 0) {  // Domain::End()
      ctr.store(0, rl::memory_order_release);
      if (!kBusted) rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [F2] light
      if (wake.load(rl::memory_order_relaxed) != 0) {
        wake.store(0, rl::memory_order_relaxed);
        word.fetch_add(1, rl::memory_order_release);  // WakeSlot()
      }
    } else {  // Domain::WaitForReader()
      wake.store(1, rl::memory_order_relaxed);
      rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [F2] heavy
      const unsigned generation = word.load(rl::memory_order_acquire);
      if (ctr.load(rl::memory_order_acquire) != 0) {
        slept($) = true;  // FutexWait(word, generation)
        slept_on($) = generation;
      }
    }
  }

  void after() {
    if (slept($)) RL_ASSERT(word.load(rl::memory_order_relaxed) != slept_on($));
  }
};

// The callback hand-off: [F4] a thread appends to its chain inside a read-side section; a
// callback thread steals the chain and reads it only after a grace period, which waits for that
// section. The twin appends without the section.
template <bool kBusted>
struct HandOffModel : rl::test_suite<HandOffModel<kBusted>, 2> {
  rl::atomic<int> queue;  // 1: the thread's chain is there (its tail block has room)
  rl::atomic<unsigned> ctr;
  rl::var<int> entry;  // the next slot of the tail block

  void before() {
    queue.store(1, rl::memory_order_relaxed);
    ctr.store(0, rl::memory_order_relaxed);
    entry($) = 0;
  }

  void thread(unsigned index) {
    if (index == 0) {  // Domain::Enqueue()
      if (!kBusted) {
        ctr.store(1, rl::memory_order_release);
        rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [F1] light
      }
      if (queue.load(rl::memory_order_relaxed) != 0) entry($) = 42;  // append to the tail
      if (!kBusted) ctr.store(0, rl::memory_order_release);
    } else {  // Reclaimer: collect, grace period, invoke
      if (queue.exchange(0, rl::memory_order_acq_rel) == 0) return;
      rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [F1] heavy
      while (ctr.load(rl::memory_order_acquire) != 0) rl::yield(1, $);
      const int callback = entry($);  // [F4] run the callbacks
      RL_ASSERT(callback == 0 || callback == 42);
    }
  }
};

// The idle callback thread: [F3] a thread that starts a new chain publishes it, fences, then
// looks for idle workers; a worker going idle announces it, fences, then looks for chains.
template <bool kBusted>
struct IdleWakeModel : rl::test_suite<IdleWakeModel<kBusted>, 2> {
  rl::atomic<int> queue;
  rl::atomic<int> idle;
  rl::atomic<unsigned> word;
  rl::var<bool> slept;
  rl::var<unsigned> slept_on;

  void before() {
    queue.store(0, rl::memory_order_relaxed);
    idle.store(0, rl::memory_order_relaxed);
    word.store(0, rl::memory_order_relaxed);
    slept($) = false;
  }

  void thread(unsigned index) {
    if (index == 0) {  // Domain::EnqueueSlowPath(), Reclaimer::OnQueued()
      queue.store(1, rl::memory_order_release);
      if (!kBusted) rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [F3] light
      if (idle.load(rl::memory_order_relaxed) > 0) word.fetch_add(1, rl::memory_order_release);
    } else {  // Reclaimer::Idle()
      idle.fetch_add(1, rl::memory_order_relaxed);
      rl::atomic_thread_fence(rl::memory_order_seq_cst);  // [F3] heavy
      const unsigned generation = word.load(rl::memory_order_acquire);
      if (queue.load(rl::memory_order_acquire) == 0) {
        slept($) = true;
        slept_on($) = generation;
      }
    }
  }

  void after() {
    if (slept($)) RL_ASSERT(word.load(rl::memory_order_relaxed) != slept_on($));
  }
};

// rcu::HashMap's table (rcu/containers/internal/hash_table.h), one group's control word per
// rl::atomic, its slots as rl::var. Byte values: kEmpty, kBusy, kRetiring, kDeleted, or a tag.
constexpr unsigned kEmpty = 0x80, kBusy = 0xFF, kRetiring = 0xFB, kDeleted = 0xFE, kTag = 0x2A;

// [P1] publishing a slot: the updater claims it (acquire compare-and-swap), writes the entry, and
// turns its byte into the tag with a release XOR; a lookup loads the word with acquire and reads
// the entry when it sees the tag. The twin publishes with a relaxed XOR: the lookup's read of the
// entry races with its write.
template <bool kBusted>
struct HashPublishModel : rl::test_suite<HashPublishModel<kBusted>, 2> {
  rl::atomic<unsigned> control;
  rl::var<int> slot;

  void before() {
    control.store(kEmpty, rl::memory_order_relaxed);
    slot($) = 0;
  }

  void thread(unsigned index) {
    if (index == 0) {  // HashTable::Place()
      unsigned word = kEmpty;
      RL_ASSERT(control.compare_exchange_strong(word, kBusy, rl::memory_order_acquire));
      slot($) = 42;
      if (kBusted) {
        control.fetch_xor(kBusy ^ kTag, rl::memory_order_relaxed);
      } else {
        control.fetch_xor(kBusy ^ kTag, rl::memory_order_release);  // [P1]
      }
    } else {  // HashTable::Search()
      if (control.load(rl::memory_order_acquire) == kTag) RL_ASSERT(slot($) == 42);
    }
  }
};

// [P3] replacing an inline entry further down the key's probe: the new entry (group B) is
// published before the current one (group A) turns retiring, with release; a lookup that loads A
// (acquire) and sees it retiring goes on to B and must find the new entry (H3: a key present
// throughout is never missed). The twin retires A first: the lookup finds neither.
template <bool kBusted>
struct HashReplaceModel : rl::test_suite<HashReplaceModel<kBusted>, 2> {
  rl::atomic<unsigned> group_a, group_b;
  rl::var<int> slot_a, slot_b;

  void before() {
    group_a.store(kTag, rl::memory_order_relaxed);
    group_b.store(kEmpty, rl::memory_order_relaxed);
    slot_a($) = 1;
    slot_b($) = 0;
  }

  void thread(unsigned index) {
    if (index == 0) {  // HashTable::Replace(), placed after the current entry
      if (kBusted) group_a.fetch_xor(kTag ^ kRetiring, rl::memory_order_release);
      unsigned word = kEmpty;
      RL_ASSERT(group_b.compare_exchange_strong(word, kBusy, rl::memory_order_acquire));
      slot_b($) = 2;
      group_b.fetch_xor(kBusy ^ kTag, rl::memory_order_release);                    // [P1]
      if (!kBusted) group_a.fetch_xor(kTag ^ kRetiring, rl::memory_order_release);  // [P3]
    } else {  // HashTable::Search(): group A has no empty slot, so the probe goes on to B
      if (group_a.load(rl::memory_order_acquire) == kTag) {
        RL_ASSERT(slot_a($) == 1);
        return;
      }
      RL_ASSERT(group_b.load(rl::memory_order_acquire) == kTag);
      RL_ASSERT(slot_b($) == 2);
    }
  }
};

// [P4] reusing a slot: a lookup reads a slot inside a read-side section; the updater retires
// it, and only after a grace period (the heavy fence, then waiting for the reader's counter, as
// GracePeriod()) turns it deleted with release; the next updater claims it with an acquire
// compare-and-swap and writes a new entry. The twin recycles without the grace period: the write
// races with the lookup's read.
template <bool kBusted>
struct HashReuseModel : rl::test_suite<HashReuseModel<kBusted>, 3> {
  rl::atomic<unsigned> control;
  rl::atomic<unsigned> ctr;
  rl::atomic<unsigned> epoch;
  rl::var<int> slot;

  void before() {
    control.store(kTag, rl::memory_order_relaxed);
    ctr.store(0, rl::memory_order_relaxed);
    epoch.store(1, rl::memory_order_relaxed);
    slot($) = 1;
  }

  void thread(unsigned index) {
    if (index == 0) {  // a lookup in a section
      ctr.store(epoch.load(rl::memory_order_relaxed), rl::memory_order_release);  // [R1]
      rl::atomic_thread_fence(rl::memory_order_seq_cst);                          // [F1] light
      if (control.load(rl::memory_order_acquire) == kTag) {
        const int entry = slot($);  // the old entry, or (its section began later) the new one
        RL_ASSERT(entry == 1 || entry == 2);
      }
      ctr.store(0, rl::memory_order_release);  // [R2]
    } else if (index == 1) {  // Unlink(), then Recycle() once the batch's grace period is over
      control.fetch_xor(kTag ^ kRetiring, rl::memory_order_release);
      if (!kBusted) GracePeriod(ctr, epoch);
      control.fetch_xor(kRetiring ^ kDeleted, rl::memory_order_release);  // [P4]
    } else {  // another key's Place() claims the deleted slot
      unsigned word = kDeleted;
      if (control.compare_exchange_strong(word, kBusy, rl::memory_order_acquire)) {  // [P4]
        slot($) = 2;
        control.fetch_xor(kBusy ^ kTag, rl::memory_order_release);
      }
    }
  }
};

template <template <bool> class Model>
bool Check(const char* name) {
  rl::test_params params;
  params.search_type = rl::fair_full_search_scheduler_type;
  static std::ofstream quiet("/dev/null");  // Relacy prints each failing execution's history
  params.output_stream = &quiet;
  params.progress_stream = &quiet;
  const bool real_ok = rl::simulate<Model<false>>(params);
  rl::test_params busted_params = params;
  const bool busted_ok = rl::simulate<Model<true>>(busted_params);
  std::printf("%-18s real model: %-9s busted twin: %s%s\n", name, real_ok ? "verified" : "FAILED",
              busted_ok ? "NOT CAUGHT" : "caught: ",
              busted_ok ? "" : rl::test_result_str(busted_params.test_result));
  return real_ok && !busted_ok;
}

}  // namespace

int main() {
  bool ok = true;
  ok &= Check<GracePeriodModel>("grace_period");
  ok &= Check<SkipWhenAloneModel>("skip_when_alone");
  ok &= Check<SleepingWaiterModel>("sleeping_waiter");
  ok &= Check<HandOffModel>("callback_hand_off");
  ok &= Check<IdleWakeModel>("idle_wake");
  ok &= Check<HashPublishModel>("hash_publish");
  ok &= Check<HashReplaceModel>("hash_replace");
  ok &= Check<HashReuseModel>("hash_reuse");
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
