// rcutorture for this library: the Linux kernel's RCU torture test, translated to threads
// (../shared/MISUSE.md, "Torture test").
//
//   ./bazelw run -c opt //tests/torture:rcutorture -- --mode=domain --duration=3600
//
// --mode=domain: a writer replaces the current element and ages every removed element one pipe
// stage per grace period (synchronous, expedited, polled and callback flavors at random),
// recycling it after the last stage; readers record the stage they observe after a random delay
// (rarely a long one). A reader that observes stage 2 or more saw a grace period end while it
// held the element: FAILURE ("Reader Pipe"). Every element carries an mbtest field set before it is
// published and cleared when it is recycled: a reader that sees it clear caught a publish or
// reuse ordering bug. Fake writers run grace periods of every flavor and barriers at random; a
// barrier tester queues callbacks and checks Barrier() ran them all; a churn thread starts
// threads that read once and exit; stutter pauses everything and lets it loose at once; the
// flood retires as fast as it can and checks memory stays bounded while grace periods advance.
//
// --mode=list|hash_map|copy_on_grow_array|replace_map: writers apply random operations to their
// own keys and keep a shadow of what they did; readers check that every element they reach is
// alive and whole; at the end the container must hold exactly what the shadows say.
//
// --busted=no_wait (grace periods that do not wait), early_callback (the writer ages elements
// only through callbacks, which run before readers are done): domain mode, through the busted
// operations tables of tests/testing/torture_ops.h (the kernel's rcu_torture_ops); cache
// (hash_map mode only: the seed's list-with-cache instead of rcu::HashMap). Each must end in
// FAILURE within seconds.
//
// Prints the statistics and SUCCESS or FAILURE; exits non-zero on failure.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "containers/copy_on_grow_array.h"
#include "containers/hash_map.h"
#include "containers/list.h"
#include "containers/replace_map.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "tests/testing/seed_cache.h"
#include "tests/testing/torture_ops.h"

ABSL_FLAG(std::string, mode, "domain", "domain, list, hash_map, copy_on_grow_array, replace_map");
ABSL_FLAG(double, duration, 5, "seconds to run");
ABSL_FLAG(int, readers, 2, "reader threads");
ABSL_FLAG(int, writers, 1, "fake writers (domain mode) or writers (container modes)");
ABSL_FLAG(int, read_delay_us, 20, "upper bound of the usual random read-side delay");
ABSL_FLAG(int, long_delay_ms, 20, "the rare long read-side delay");
ABSL_FLAG(int, long_delay_every, 20000, "one read in this many takes the long delay");
ABSL_FLAG(double, stutter, 0, "seconds of run, then as long paused (0: no stutter)");
ABSL_FLAG(bool, churn, true, "a thread that starts threads which read once and exit");
ABSL_FLAG(bool, barrier, true, "the barrier tester");
ABSL_FLAG(bool, flood, false, "the forward-progress flood");
ABSL_FLAG(std::string, busted, "none", "none, no_wait, early_callback, cache");

namespace rcu::torture {
namespace {

constexpr int kPipeLen = 10;
constexpr uint64_t kAlive = 0xA11FE;

std::atomic<bool> g_stop{false};
std::atomic<bool> g_paused{false};
std::atomic<uint64_t> g_errors{0};

void Fail(const char* what) {
  if (g_errors.fetch_add(1) < 10) std::fprintf(stderr, "torture error: %s\n", what);
}

// Waits while stutter has everything paused.
void Stutter() {
  while (g_paused.load(std::memory_order_relaxed) && !g_stop.load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// A random read-side delay: short, and rarely long (the seed's bug only showed with long ones).
void ReadDelay(std::mt19937_64& rng) {
  const int every = absl::GetFlag(FLAGS_long_delay_every);
  if (every > 0 && rng() % every == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(absl::GetFlag(FLAGS_long_delay_ms)));
  } else if (const int us = absl::GetFlag(FLAGS_read_delay_us); us > 0 && rng() % 8 == 0) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % us);
    while (std::chrono::steady_clock::now() < until) {
    }
  }
}

class Histogram {
 public:
  void Add(int bucket) {
    counts_[std::min(bucket, kPipeLen)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t At(int i) const { return counts_[i].load(); }
  std::string Format() const {
    std::string out;
    for (const auto& c : counts_) out += " " + std::to_string(c.load());
    return out;
  }

 private:
  std::atomic<uint64_t> counts_[kPipeLen + 1] = {};
};

// ---- domain mode ----------------------------------------------------------------------------

struct Element {
  std::atomic<int> pipe{0};
  std::atomic<int> mbtest{0};
  CallbackHead head;
  bool managed_by_callback = false;
};

class DomainTorture {
 public:
  DomainTorture(Domain& domain, const testing_support::TortureOps& ops)
      : domain_(domain),
        ops_(ops),
        // The early-callback flavor's bug lives in callbacks: age through nothing else.
        callbacks_only_(&ops == &testing_support::kEarlyCallbackOps) {
    for (auto& e : pool_) free_.push_back(&e);
    Element* first = TakeFree();
    first->mbtest.store(1, std::memory_order_relaxed);
    current_.Assign(first);
  }

  ~DomainTorture() { current_.Init(nullptr); }

  void Reader(uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!g_stop.load(std::memory_order_relaxed)) {
      Stutter();
      ReadOnce(rng);
    }
  }

  void ReadOnce(std::mt19937_64& rng) {
    ReadGuard guard(domain_);
    const uint64_t gp_before = domain_.GracePeriodsCompleted();
    Element* p = current_.Read(guard);
    if (p->mbtest.load(std::memory_order_relaxed) == 0) {
      mbtest_errors_.fetch_add(1);
      Fail("mbtest: a reader saw an element that was not (or no longer) published");
    }
    ReadDelay(rng);
    const int pipe = p->pipe.load(std::memory_order_relaxed);
    pipe_.Add(pipe);
    if (pipe >= 2) Fail("Reader Pipe: a grace period ended while a reader held the element");
    batch_.Add(static_cast<int>(domain_.GracePeriodsCompleted() - gp_before));
    reads_.fetch_add(1, std::memory_order_relaxed);
  }

  void Writer(uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!g_stop.load(std::memory_order_relaxed)) {
      Stutter();
      Element* fresh = TakeFree();
      if (fresh == nullptr) {  // everything is in the pipe: let it drain
        ops_.sync(domain_);
        AgeRemoved();
        continue;
      }
      fresh->pipe.store(0, std::memory_order_relaxed);
      fresh->mbtest.store(1, std::memory_order_relaxed);
      Element* old = current_.Exchange(fresh);
      old->pipe.store(1, std::memory_order_relaxed);  // removed: stage 1
      const int flavor = callbacks_only_ ? 3 : static_cast<int>(rng() % 4);
      if (flavor == 3) {
        old->managed_by_callback = true;
        ops_.call(domain_, &old->head, &Self::AgeByCallback);
        callback_flavor_.fetch_add(1, std::memory_order_relaxed);
      } else {
        removed_.push_back(old);
      }
      switch (flavor) {
        case 0:
          ops_.sync(domain_);
          break;
        case 1:
          ops_.sync_expedited(domain_);
          break;
        case 2: {
          const GracePeriodCookie cookie = domain_.GetState();
          while (!domain_.PollState(cookie) && rng() % 4 != 0) std::this_thread::yield();
          ops_.cond_sync(domain_, cookie);
          break;
        }
        default:
          continue;  // the callback ages it; nothing to wait for here
      }
      AgeRemoved();
      writes_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void FakeWriter(uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (!g_stop.load(std::memory_order_relaxed)) {
      Stutter();
      switch (rng() % 4) {
        case 0:
          ops_.sync(domain_);
          break;
        case 1:
          ops_.sync_expedited(domain_);
          break;
        case 2:
          ops_.cond_sync(domain_, domain_.GetState());
          break;
        default:
          domain_.Barrier();
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
    }
  }

  void Print() const {
    std::printf("Reader Pipe: %s\n", pipe_.Format().c_str());
    std::printf("Reader Batch: %s\n", batch_.Format().c_str());
    std::printf("reads: %llu  writes: %llu (%llu through callbacks)  mbtest errors: %llu\n",
                ULL(reads_.load()), ULL(writes_.load()), ULL(callback_flavor_.load()),
                ULL(mbtest_errors_.load()));
    std::printf("Free-Block Circulation: %llu elements recycled after %d stages\n",
                ULL(recycled_.load()), kPipeLen);
  }

 private:
  using Self = DomainTorture;
  static unsigned long long ULL(uint64_t v) { return static_cast<unsigned long long>(v); }

  static DomainTorture* instance;

  // One grace period has passed for every element the writer removed.
  void AgeRemoved() {
    std::vector<Element*> still;
    for (Element* e : removed_) {
      if (e->pipe.fetch_add(1, std::memory_order_relaxed) + 1 >= kPipeLen) {
        Recycle(e);
      } else {
        still.push_back(e);
      }
    }
    removed_.swap(still);
  }

  static void AgeByCallback(CallbackHead* head) {
    Element* e = ContainerOf(head, &Element::head);
    if (e->pipe.fetch_add(1, std::memory_order_relaxed) + 1 >= kPipeLen) {
      e->managed_by_callback = false;
      instance->Recycle(e);
    } else {
      instance->ops_.call(instance->domain_, &e->head, &AgeByCallback);  // the next stage after the next GP
    }
  }

  void Recycle(Element* e) {
    e->mbtest.store(0, std::memory_order_relaxed);
    recycled_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(free_mu_);
    free_.push_back(e);
  }

  Element* TakeFree() {
    std::lock_guard<std::mutex> lock(free_mu_);
    if (free_.empty()) return nullptr;
    Element* e = free_.back();
    free_.pop_back();
    return e;
  }

  friend void RunDomain(Domain&, const testing_support::TortureOps&);
  Domain& domain_;
  const testing_support::TortureOps& ops_;
  const bool callbacks_only_;
  Element pool_[100];
  std::mutex free_mu_;
  std::vector<Element*> free_;
  std::vector<Element*> removed_;  // writer-only
  Published<Element> current_{domain_};
  Histogram pipe_, batch_;
  std::atomic<uint64_t> reads_{0}, writes_{0}, callback_flavor_{0}, mbtest_errors_{0}, recycled_{0};
};
DomainTorture* DomainTorture::instance = nullptr;

// Queues N callbacks, then Barrier(): every one of them must have run.
void BarrierTester(Domain& domain, std::atomic<uint64_t>& barriers) {
  struct Counted {
    CallbackHead head;
    std::atomic<int>* runs;
  };
  constexpr int kCallbacks = 100;
  std::vector<Counted> heads(kCallbacks);
  while (!g_stop.load(std::memory_order_relaxed)) {
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
  }
}

// Threads that register, read once and exit: the userspace counterpart of CPU hotplug.
template <typename ReadOnce>
void Churn(ReadOnce read_once, std::atomic<uint64_t>& churned) {
  while (!g_stop.load(std::memory_order_relaxed)) {
    Stutter();
    std::thread(read_once).join();
    churned.fetch_add(1, std::memory_order_relaxed);
  }
}

// Retires as fast as it can: pending memory must stay bounded while grace periods advance.
void Flood(std::atomic<uint64_t>& retired) {
  DomainOptions options;
  options.max_pending_callbacks = 1 << 14;
  Domain domain(options);
  uint64_t peak = 0;
  const uint64_t gp_before = domain.GracePeriodsCompleted();
  while (!g_stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 1024; ++i) domain.Retire(new uint64_t(i));
    retired.fetch_add(1024, std::memory_order_relaxed);
    peak = std::max(peak, domain.Stats().callbacks_pending);
  }
  if (peak > options.max_pending_callbacks) Fail("flood: pending callbacks exceeded the bound");
  if (retired.load() > (1u << 16) && domain.GracePeriodsCompleted() == gp_before) {
    Fail("flood: grace periods stopped advancing");
  }
  std::printf("flood: %llu retired, peak pending %llu (bound %llu), %llu grace periods\n",
              static_cast<unsigned long long>(retired.load()),
              static_cast<unsigned long long>(peak),
              static_cast<unsigned long long>(options.max_pending_callbacks),
              static_cast<unsigned long long>(domain.GracePeriodsCompleted() - gp_before));
}

// ---- container modes ------------------------------------------------------------------------

struct Payload {
  Payload(uint64_t k, uint64_t v) : key(k), version(v), check(k * 31 + v) {}
  Payload(const Payload& o) : key(o.key), version(o.version), check(o.check) {}
  ~Payload() { canary = 0; }
  bool Whole() const { return canary == kAlive && check == key * 31 + version; }
  uint64_t key, version, check;
  uint64_t canary = kAlive;
};

constexpr uint64_t kKeysPerWriter = 256;

// Half of all reads and updates go to two hot keys per writer (lookup traffic is skewed, and the
// races worth finding are on hot keys: the seed's cache bug needs one), the rest anywhere.
uint64_t PickKey(std::mt19937_64& rng, uint64_t writer) {
  return writer * kKeysPerWriter + (rng() % 2 == 0 ? rng() % 2 : rng() % kKeysPerWriter);
}

// The container behind one interface per mode. Each writer owns keys
// [w * kKeysPerWriter, (w + 1) * kKeysPerWriter) and a shadow of them.
class Subject {
 public:
  virtual ~Subject() = default;
  virtual void Set(uint64_t key, uint64_t version) = 0;
  virtual void Erase(uint64_t key) = 0;
  // Reads inside a section; returns false if anything reached was not whole.
  virtual bool Read(uint64_t key) = 0;
  virtual std::map<uint64_t, uint64_t> Contents() = 0;
};

class ListSubject : public Subject {
 public:
  explicit ListSubject(Domain& d) : domain_(d), list_(d) {}
  void Set(uint64_t key, uint64_t version) override {
    if (list_.ReplaceIf([&](const Payload& p) { return p.key == key; },
                        [&](const Payload&) { return Payload(key, version); }) == 0) {
      list_.PushBack(Payload(key, version));
    }
  }
  void Erase(uint64_t key) override {
    list_.EraseIf([&](const Payload& p) { return p.key == key; });
  }
  bool Read(uint64_t) override {
    ReadGuard guard(domain_);
    for (const Payload& p : list_.Iterate(guard)) {
      if (!p.Whole()) return false;
    }
    return true;
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    ReadGuard guard(domain_);
    for (const Payload& p : list_.Iterate(guard)) out[p.key] = p.version;
    return out;
  }

 private:
  Domain& domain_;
  List<Payload> list_;
};

class HashMapSubject : public Subject {
 public:
  explicit HashMapSubject(Domain& d) : domain_(d), map_(d, Options()) {}
  void Set(uint64_t key, uint64_t version) override {
    map_.InsertOrAssign(key, Payload(key, version));
  }
  void Erase(uint64_t key) override { map_.Erase(key); }
  bool Read(uint64_t key) override {
    ReadGuard guard(domain_);
    const Payload* p = map_.Find(guard, key);
    return p == nullptr || (p->Whole() && p->key == key);
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    ReadGuard guard(domain_);
    map_.ForEach(guard, [&](const uint64_t& k, const Payload& p) { out[k] = p.version; });
    return out;
  }

 private:
  static HashMapOptions Options() {
    HashMapOptions o;
    o.lookup_cache = true;  // torture the cache too
    o.cache_slots = 64;
    return o;
  }
  Domain& domain_;
  HashMap<uint64_t, Payload> map_;
};

// The seed's list-with-cache (busted: re-publishes elements being deleted).
class SeedCacheSubject : public Subject {
 public:
  SeedCacheSubject() : seed_(testing_support::SeedCache::kCache) {}
  void Set(uint64_t key, uint64_t) override {
    seed_.Erase(key);
    seed_.Insert(key);
  }
  void Erase(uint64_t key) override { seed_.Erase(key); }
  bool Read(uint64_t key) override {
    bool found = false;
    return seed_.Search(key, found);
  }
  std::map<uint64_t, uint64_t> Contents() override { return {}; }

 private:
  testing_support::SeedCache seed_;
};

class ArraySubject : public Subject {
 public:
  explicit ArraySubject(Domain& d) : domain_(d), array_(d) {}
  // The array holds keys at their index: Set(k) appends up to k, then replaces k; Erase(k) of
  // the last index truncates.
  void Set(uint64_t key, uint64_t version) override {
    std::lock_guard<std::mutex> lock(mu_);
    while (array_.size() <= key) array_.Append(Payload(array_.size(), 0));
    array_.Set(key, Payload(key, version));
  }
  void Erase(uint64_t key) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (key + 1 == array_.size()) array_.Truncate(key);
  }
  bool Read(uint64_t) override {
    ReadGuard guard(domain_);
    const auto view = array_.Read(guard);
    for (size_t i = 0; i < view.size(); ++i) {
      if (!view[i].Whole() || view[i].key != i) return false;
    }
    return true;
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    ReadGuard guard(domain_);
    for (const Payload& p : array_.Read(guard)) out[p.key] = p.version;
    return out;
  }

 private:
  Domain& domain_;
  std::mutex mu_;  // Set/Erase read-modify-write the size
  CopyOnGrowArray<Payload> array_;
};

class ReplaceMapSubject : public Subject {
 public:
  explicit ReplaceMapSubject(Domain& d) : domain_(d), map_(d) {}
  void Set(uint64_t key, uint64_t version) override {
    map_.InsertOrAssign(key, Payload(key, version));
  }
  void Erase(uint64_t key) override { map_.Erase(key); }
  bool Read(uint64_t key) override {
    ReadGuard guard(domain_);
    const auto& version = map_.Snapshot(guard);
    const Payload* p = version.Find(key);
    bool whole = p == nullptr || (p->Whole() && p->key == key);
    version.ForEach(
        [&](const uint64_t& k, const Payload& v) { whole = whole && v.Whole() && v.key == k; });
    return whole;
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    ReadGuard guard(domain_);
    map_.Snapshot(guard).ForEach([&](const uint64_t& k, const Payload& p) { out[k] = p.version; });
    return out;
  }

 private:
  Domain& domain_;
  ReplaceMap<uint64_t, Payload> map_;
};

// ---- driver ---------------------------------------------------------------------------------

class Threads {
 public:
  template <typename Fn>
  void Start(Fn fn) {
    threads_.emplace_back(fn);
  }
  void JoinAll() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::vector<std::thread> threads_;
};

void RunFor(double seconds) {
  const double stutter = absl::GetFlag(FLAGS_stutter);
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

void RunDomain(Domain& domain, const testing_support::TortureOps& ops) {
  DomainTorture torture(domain, ops);
  DomainTorture::instance = &torture;
  std::atomic<uint64_t> barriers{0}, churned{0}, flooded{0};
  Threads threads;
  for (int i = 0; i < absl::GetFlag(FLAGS_readers); ++i)
    threads.Start([&, i] { torture.Reader(i + 1); });
  threads.Start([&] { torture.Writer(100); });
  for (int i = 0; i < absl::GetFlag(FLAGS_writers); ++i)
    threads.Start([&, i] { torture.FakeWriter(200 + i); });
  if (absl::GetFlag(FLAGS_barrier)) threads.Start([&] { BarrierTester(domain, barriers); });
  if (absl::GetFlag(FLAGS_churn)) {
    threads.Start([&] {
      std::mt19937_64 rng(300);
      Churn([&] { torture.ReadOnce(rng); }, churned);
    });
  }
  if (absl::GetFlag(FLAGS_flood)) threads.Start([&] { Flood(flooded); });
  RunFor(absl::GetFlag(FLAGS_duration));
  threads.JoinAll();
  // Elements aging by callback re-queue themselves once per stage: one barrier per stage.
  for (int i = 0; i <= kPipeLen && domain.Stats().callbacks_pending != 0; ++i) domain.Barrier();
  domain.Barrier();  // and happens-after the last of them
  torture.Print();
  const DomainStats stats = domain.Stats();
  std::printf(
      "grace periods: %llu (mean %.1f us, max %.1f us)  barriers: %llu  churned threads: %llu\n",
      static_cast<unsigned long long>(stats.grace_periods), stats.mean_grace_period_us,
      stats.max_grace_period_us, static_cast<unsigned long long>(barriers.load()),
      static_cast<unsigned long long>(churned.load()));
  std::printf("callbacks: %llu queued, %llu invoked, peak pending %llu\n",
              static_cast<unsigned long long>(stats.callbacks_queued),
              static_cast<unsigned long long>(stats.callbacks_invoked),
              static_cast<unsigned long long>(stats.peak_pending));
  if (stats.callbacks_queued != stats.callbacks_invoked) Fail("a queued callback did not run");
}

void RunContainer(Domain& domain, const std::string& mode, bool busted_cache) {
  std::unique_ptr<Subject> subject;
  if (mode == "list") subject = std::make_unique<ListSubject>(domain);
  if (mode == "hash_map") {
    subject = busted_cache ? std::unique_ptr<Subject>(new SeedCacheSubject)
                           : std::unique_ptr<Subject>(new HashMapSubject(domain));
  }
  if (mode == "copy_on_grow_array") subject = std::make_unique<ArraySubject>(domain);
  if (mode == "replace_map") subject = std::make_unique<ReplaceMapSubject>(domain);
  if (subject == nullptr) {
    std::fprintf(stderr, "unknown --mode=%s\n", mode.c_str());
    std::exit(2);
  }
  // The array holds one sequence: one writer keeps it meaningful.
  const int writers = mode == "copy_on_grow_array" ? 1 : absl::GetFlag(FLAGS_writers);
  std::vector<std::map<uint64_t, uint64_t>> shadows(writers);
  std::atomic<uint64_t> reads{0}, ops{0}, churned{0};
  Threads threads;
  for (int i = 0; i < absl::GetFlag(FLAGS_readers); ++i) {
    threads.Start([&, i] {
      std::mt19937_64 rng(i + 1);
      while (!g_stop.load(std::memory_order_relaxed)) {
        Stutter();
        if (!subject->Read(PickKey(rng, rng() % writers))) {
          Fail("a reader reached a freed or torn element");
        }
        ReadDelay(rng);
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int w = 0; w < writers; ++w) {
    threads.Start([&, w] {
      std::mt19937_64 rng(100 + w);
      for (uint64_t version = 1; !g_stop.load(std::memory_order_relaxed); ++version) {
        Stutter();
        const uint64_t key = PickKey(rng, w);
        if (rng() % 3 == 0) {
          subject->Erase(key);
          if (mode != "copy_on_grow_array") shadows[w].erase(key);
        } else {
          subject->Set(key, version);
          shadows[w][key] = version;
        }
        ops.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  if (absl::GetFlag(FLAGS_churn)) {
    threads.Start([&] {
      Churn(
          [&] {
            if (!subject->Read(0)) Fail("a churned reader reached a freed or torn element");
          },
          churned);
    });
  }
  RunFor(absl::GetFlag(FLAGS_duration));
  threads.JoinAll();
  std::printf("reads: %llu  updates: %llu  churned threads: %llu\n",
              static_cast<unsigned long long>(reads.load()),
              static_cast<unsigned long long>(ops.load()),
              static_cast<unsigned long long>(churned.load()));
  if (!busted_cache && mode != "copy_on_grow_array") {
    std::map<uint64_t, uint64_t> expected;
    for (const auto& s : shadows) expected.insert(s.begin(), s.end());
    if (subject->Contents() != expected)
      Fail("the container's contents differ from what the writers did");
  }
  if (mode == "copy_on_grow_array") {
    // Erase only truncates the last index, so check the set values that are still in range.
    const auto contents = subject->Contents();
    for (const auto& [key, version] : shadows[0]) {
      auto it = contents.find(key);
      if (it != contents.end() && it->second != version && it->second != 0) {
        Fail("the array's contents differ from what the writer did");
      }
    }
  }
  subject.reset();
  domain.Barrier();
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const std::string busted = absl::GetFlag(FLAGS_busted);
  const testing_support::TortureOps* ops = testing_support::FindOps(busted.c_str());
  if (ops == nullptr && busted != "cache") {
    std::fprintf(stderr, "unknown --busted=%s\n", busted.c_str());
    return 2;
  }
  std::printf("rcutorture: mode=%s busted=%s duration=%.1fs readers=%d writers=%d\n", mode.c_str(),
              busted.c_str(), absl::GetFlag(FLAGS_duration), absl::GetFlag(FLAGS_readers),
              absl::GetFlag(FLAGS_writers));
  {
    Domain domain;
    if (mode == "domain") {
      RunDomain(domain, ops != nullptr ? *ops : testing_support::kRealOps);
    } else {
      RunContainer(domain, mode, busted == "cache");
    }
  }
  const bool ok = g_errors.load() == 0;
  std::printf("%s: %llu errors\n", ok ? "SUCCESS" : "FAILURE",
              static_cast<unsigned long long>(g_errors.load()));
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace rcu::torture

int main(int argc, char** argv) { return rcu::torture::Main(argc, argv); }
