// rcutorture for this library: the Linux kernel's RCU torture test, translated to threads
// (../shared/MISUSE.md, "Torture test"). One harness, two axes, as in the kernel:
//
//   ./bazelw run -c opt //tests/torture:rcutorture -- --subject=pipe --duration=3600
//
// --subject: what is tortured (the kernel's torture_type).
//   pipe                the domain itself: replace, age removed elements one stage per grace
//                       period, readers check the stage (pipe_subject.h);
//   list, hash_map, copy_on_grow_array, replace_map, prefix_map, ordered_map, lookup_cache
//                       a container with a shadow per updater (container_subjects.h);
//   seqlock             records rewritten in place under a SeqLock, readers validate
//                       (seqlock_subject.h);
//   refcount            published counted objects, dropped at once when replaced; readers
//                       take references that outlive their sections (refcount_subject.h);
//   seed_cache, seqlock_no_validate, refcount_no_zero_check
//                       busted: the seed's list-with-cache (bug hunt 2); readers that use
//                       seqlock copies unvalidated; readers that take references without
//                       checking for zero (resurrection). Must FAIL.
// --ops: the operations table every grace period and callback of the run goes through (the
//   kernel's rcu_torture_ops; tests/testing/torture_ops.h): real, or busted no_wait (grace periods
//   that do not wait) and early_callback (callbacks that run at once; the pipe then ages through
//   callbacks only). A busted table must FAIL the pipe subject within seconds.
//
// Around any subject: readers (Subject::Read, a random delay inside the section), updaters
// (Subject::Update), fake writers that run grace periods of every flavor through the ops table and
// barriers, a barrier tester (queued callbacks must all have run when Barrier() returns), a churn
// thread (threads that read once and exit: the userspace counterpart of CPU hotplug), stutter
// (everything paused, then let loose at once) and the forward-progress flood (retires as fast as
// it can; memory must stay bounded while grace periods advance). At the end every queued callback
// must have run and the subject must hold what its updaters did.
//
// Prints the statistics and SUCCESS or FAILURE; exits non-zero on failure.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "tests/testing/torture_ops.h"
#include "tests/torture/container_subjects.h"
#include "tests/torture/harness.h"
#include "tests/torture/pipe_subject.h"
#include "tests/torture/refcount_subject.h"
#include "tests/torture/seqlock_subject.h"

ABSL_FLAG(std::string, subject, "pipe",
          "pipe, list, hash_map, copy_on_grow_array, replace_map, prefix_map, ordered_map, "
          "lookup_cache, seqlock, "
          "refcount; busted: "
          "seed_cache, seqlock_no_validate, refcount_no_zero_check");
ABSL_FLAG(std::string, ops, "real", "real, no_wait (busted), early_callback (busted)");
ABSL_FLAG(double, duration, 5, "seconds to run");
ABSL_FLAG(int, readers, 2, "reader threads");
ABSL_FLAG(int, updaters, 1, "updater threads (the pipe and the array take one)");
ABSL_FLAG(int, fake_writers, 1, "threads running grace periods and barriers at random");
ABSL_FLAG(int, read_delay_us, 20, "upper bound of the usual random read-side delay");
ABSL_FLAG(int, long_delay_ms, 20, "the rare long read-side delay");
ABSL_FLAG(int, long_delay_every, 20000, "one read in this many takes the long delay (0: never)");
ABSL_FLAG(double, stutter, 0, "seconds of run, then as long paused (0: no stutter)");
ABSL_FLAG(bool, churn, true, "a thread that starts threads which read once and exit");
ABSL_FLAG(bool, barrier, true, "the barrier tester");
ABSL_FLAG(bool, flood, false, "the forward-progress flood");

namespace rcu::torture {
namespace {

std::unique_ptr<Subject> MakeSubject(const std::string& name, Domain& domain,
                                     const testing_support::TortureOps& ops, int updaters) {
  if (name == "pipe") return std::make_unique<PipeSubject>(domain, ops);
  if (name == "list") return std::make_unique<ListSubject>(domain, updaters);
  if (name == "hash_map") return std::make_unique<HashMapSubject>(domain, updaters);
  if (name == "copy_on_grow_array") return std::make_unique<ArraySubject>(domain);
  if (name == "replace_map") return std::make_unique<ReplaceMapSubject>(domain, updaters);
  if (name == "prefix_map") return std::make_unique<PrefixMapSubject>(domain, updaters);
  if (name == "ordered_map") return std::make_unique<OrderedMapSubject>(domain, updaters);
  if (name == "lookup_cache") return std::make_unique<LookupCacheSubject>(domain, updaters);
  if (name == "seed_cache") return std::make_unique<SeedCacheSubject>(updaters);
  if (name == "refcount") {
    return std::make_unique<RefCountSubject>(domain, updaters, /*check_zero=*/true);
  }
  if (name == "refcount_no_zero_check") {
    return std::make_unique<RefCountSubject>(domain, updaters, /*check_zero=*/false);
  }
  if (name == "seqlock") return std::make_unique<SeqLockSubject>(updaters, /*validate=*/true);
  if (name == "seqlock_no_validate") {
    return std::make_unique<SeqLockSubject>(updaters, /*validate=*/false);
  }
  return nullptr;
}

// Grace periods of every flavor and barriers, at random, through the ops table.
void FakeWriter(Domain& domain, const testing_support::TortureOps& ops, uint64_t seed) {
  std::mt19937_64 rng(seed);
  while (!Stopping()) {
    Stutter();
    switch (rng() % 4) {
      case 0:
        ops.sync(domain);
        break;
      case 1:
        ops.sync_expedited(domain);
        break;
      case 2:
        ops.cond_sync(domain, domain.GetState());
        break;
      default:
        domain.Barrier();
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
  }
}

// Queues callbacks, then Barrier(): every one of them must have run. Paced like the fake
// writers: unpaced, a barrier on an idle domain returns at once and the loop starves the subject.
void BarrierTester(Domain& domain, std::atomic<uint64_t>& barriers) {
  std::mt19937_64 rng(400);
  struct Counted {
    CallbackHead head;
    std::atomic<int>* runs;
  };
  constexpr int kCallbacks = 100;
  std::vector<Counted> heads(kCallbacks);
  while (!Stopping()) {
    Stutter();
    std::atomic<int> runs{0};
    for (auto& c : heads) {
      c.runs = &runs;
      domain.Call(&c.head,
                  [](CallbackHead* h) { ContainerOf(h, &Counted::head)->runs->fetch_add(1); });
    }
    domain.Barrier();
    if (runs.load() != kCallbacks) Fail("Barrier() returned before its callbacks ran");
    barriers.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
  }
}

// Threads that register, read once and exit.
void Churn(Subject& subject, std::atomic<uint64_t>& churned) {
  std::mt19937_64 rng(300);
  while (!Stopping()) {
    Stutter();
    std::thread([&] {
      if (!subject.Read(rng)) Fail("a churned reader reached a freed or torn element");
    }).join();
    churned.fetch_add(1, std::memory_order_relaxed);
  }
}

// Retires as fast as it can: pending memory must stay bounded while grace periods advance.
void Flood() {
  DomainOptions options;
  options.max_pending_callbacks = 1 << 14;
  Domain domain(options);
  uint64_t peak = 0, retired = 0;
  const uint64_t gp_before = domain.GracePeriodsCompleted();
  while (!Stopping()) {
    for (int i = 0; i < 1024; ++i) domain.Retire(new uint64_t(i));
    retired += 1024;
    peak = std::max(peak, domain.Stats().callbacks_pending);
  }
  if (peak > options.max_pending_callbacks) Fail("flood: pending callbacks exceeded the bound");
  if (retired > (1u << 16) && domain.GracePeriodsCompleted() == gp_before) {
    Fail("flood: grace periods stopped advancing");
  }
  std::printf("flood: %llu retired, peak pending %llu (bound %llu), %llu grace periods\n",
              ULL(retired), ULL(peak), ULL(options.max_pending_callbacks),
              ULL(domain.GracePeriodsCompleted() - gp_before));
}

// Runs until the duration passes or an error shows, stuttering if asked.
void RunFor(double seconds, double stutter) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline && g_errors.load() == 0) {
    if (stutter > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(stutter));
      g_paused.store(!g_paused.load());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  g_paused.store(false);
  g_stop.store(true);
}

void Torture(Domain& domain, Subject& subject, const testing_support::TortureOps& ops) {
  std::atomic<uint64_t> reads{0}, updates{0}, barriers{0}, churned{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < absl::GetFlag(FLAGS_readers); ++i) {
    threads.emplace_back([&, i] {
      std::mt19937_64 rng(i + 1);
      while (!Stopping()) {
        Stutter();
        if (!subject.Read(rng)) Fail("a reader reached a freed, torn or reused element");
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int u = 0; u < subject.Updaters(); ++u) {
    threads.emplace_back([&, u] {
      std::mt19937_64 rng(100 + u);
      while (!Stopping()) {
        Stutter();
        subject.Update(rng, u);
        updates.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int i = 0; i < absl::GetFlag(FLAGS_fake_writers); ++i) {
    threads.emplace_back([&, i] { FakeWriter(domain, ops, 200 + i); });
  }
  if (absl::GetFlag(FLAGS_barrier)) threads.emplace_back([&] { BarrierTester(domain, barriers); });
  if (absl::GetFlag(FLAGS_churn)) threads.emplace_back([&] { Churn(subject, churned); });
  if (absl::GetFlag(FLAGS_flood)) threads.emplace_back(Flood);
  RunFor(absl::GetFlag(FLAGS_duration), absl::GetFlag(FLAGS_stutter));
  for (auto& t : threads) t.join();

  // Callbacks may queue callbacks (the pipe ages an element one stage per callback): barriers
  // until none is pending, then one that happens after the last of them.
  for (int i = 0; i <= 4 * kPipeLen && domain.Stats().callbacks_pending != 0; ++i) {
    domain.Barrier();
  }
  domain.Barrier();
  subject.Finish();
  subject.Print();
  const DomainStats stats = domain.Stats();
  std::printf("reads: %llu  updates: %llu  barriers: %llu  churned threads: %llu\n",
              ULL(reads.load()), ULL(updates.load()), ULL(barriers.load()), ULL(churned.load()));
  std::printf("grace periods: %llu (mean %.1f us, max %.1f us)\n", ULL(stats.grace_periods),
              stats.mean_grace_period_us, stats.max_grace_period_us);
  std::printf("callbacks: %llu queued, %llu invoked, peak pending %llu\n",
              ULL(stats.callbacks_queued), ULL(stats.callbacks_invoked), ULL(stats.peak_pending));
  if (stats.callbacks_queued != stats.callbacks_invoked) Fail("a queued callback did not run");
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  g_delays = {absl::GetFlag(FLAGS_read_delay_us), absl::GetFlag(FLAGS_long_delay_ms),
              absl::GetFlag(FLAGS_long_delay_every)};
  const std::string subject_name = absl::GetFlag(FLAGS_subject);
  const std::string ops_name = absl::GetFlag(FLAGS_ops);
  const testing_support::TortureOps* ops = testing_support::FindOps(ops_name.c_str());
  if (ops == nullptr) {
    std::fprintf(stderr, "unknown --ops=%s\n", ops_name.c_str());
    return 2;
  }
  {
    Domain domain;
    std::unique_ptr<Subject> subject =
        MakeSubject(subject_name, domain, *ops, std::max(1, absl::GetFlag(FLAGS_updaters)));
    if (subject == nullptr) {
      std::fprintf(stderr, "unknown --subject=%s\n", subject_name.c_str());
      return 2;
    }
    std::printf("rcutorture: subject=%s ops=%s duration=%.1fs readers=%d updaters=%d\n",
                subject_name.c_str(), ops_name.c_str(), absl::GetFlag(FLAGS_duration),
                absl::GetFlag(FLAGS_readers), subject->Updaters());
    Torture(domain, *subject, *ops);
    subject.reset();
    domain.Barrier();  // what the subject's destructor retired
  }
  const bool ok = g_errors.load() == 0;
  std::printf("%s: %llu errors\n", ok ? "SUCCESS" : "FAILURE", ULL(g_errors.load()));
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace rcu::torture

int main(int argc, char** argv) { return rcu::torture::Main(argc, argv); }
