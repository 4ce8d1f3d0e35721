// -----------------------------------------------------------------------------
// File: lookup_cache.h
// -----------------------------------------------------------------------------
//
// `rcu::LookupCache<K, V>` is a bounded cache in front of a slow lookup (a backend query, a
// resolution, a policy evaluation): hits are wait-free and take no lock, misses load a key once
// however many threads miss it together, and entries are evicted, expired and erased without
// ever being freed under a reader. Use it where a lookup costs far more than a hash probe; for
// data that fits in memory whole, an rcu::HashMap is the cache.
//
// Hits:         `Find(guard, key)` returns a `const V*` valid until the guard's outermost section
//               ends (K1: do not keep it longer; `Get(key)` copies). A hit reads one index
//               entry (the hash map's engine; the entry holds the value, a use count and an id,
//               which names the expiry when there is a ttl); it writes nothing shared but the use
//               count, stored only while below 3 (S3-FIFO's frequency), and its thread's hit
//               counter. `Peek` does not count as a use.
// Misses:       `GetOrLoad(key, loader)` returns a copy of the value, calling `loader(key)` when
//               the key is absent or expired: one call per key however many threads miss it at
//               once (single flight); the others wait for it. A loader that throws hands the
//               exception to every waiter and caches nothing. Call it outside every section of
//               the cache's domain (K3): it may wait. A loader must not ask the cache for the
//               key it is loading (K2: it would wait for itself). Refresh (`refresh_after`):
//               the first caller to find an entry due reloads it, the others get the old value
//               meanwhile (no executor: the caller that triggers the reload pays for it).
//               Negative results: cache a std::optional<T> and give nullopt its own lifetime
//               with `expire_after`.
// Eviction:     S3-FIFO (Yang et al., SOSP 2023): a small FIFO (a tenth of the capacity) that new
//               keys enter, a main FIFO, and a ghost FIFO of the keys recently evicted from the
//               small one. A key used again while in the small FIFO moves to the main one, as does
//               a key inserted while its ghost is remembered; the main FIFO gives keys in use
//               another round (CLOCK). Chosen over W-TinyLFU for the same scan resistance with
//               FIFO queues only: no frequency sketch to update on hits, and lock-free hits.
// Bounds:       `capacity` is in charge units (an entry's charge is 1 unless Insert says);
//               entries waiting for a grace period after removal are bounded by the domain's
//               back-pressure (R12). Expired entries count until they are evicted or replaced.
// Invalidation: Erase(key), EraseIf(pred), Clear() and time-to-live (`ttl`, or each entry's own
//               with `expire_after`, read from the coarse monotonic clock: no clock read on a
//               hit when neither is set). No lookup that begins
//               after Erase returns sees the entry, and a load in flight for the key, or for any
//               key across Clear(), does not publish its value (K4, the seed's bug).
// Listener:     `on_removal(key, value, cause)` (evicted, expired, erased, replaced) runs after
//               the cache's lock is released, before the entry is retired, inside a read-side
//               section of the cache's domain (the value is read where readers read it): it may
//               update the cache, but must not wait for a grace period (R4) or load (K3).
// Lifecycle:    a child of fork() does not wait for a load whose thread stayed in the parent: it
//               loads the key itself.
// Progress:     Find/Peek wait-free; updates and misses take the cache's lock briefly (never
//               while a loader or a listener runs); GetOrLoad waits for another thread's load.
// Misuse:       K1 documented (ASan in the tests); K2 and K3 checked (K2 always: it would hang);
//               K4 by construction; R1 for every read.
//
// Example:
//   rcu::LookupCache<std::string, Address> dns({.capacity = 100000,
//                                               .ttl = std::chrono::seconds(30)});
//   Address Resolve(const std::string& name) {
//     return dns.GetOrLoad(name, [](const std::string& n) { return QueryServer(n); });
//   }

#ifndef RCU_CONTAINERS_LOOKUP_CACHE_H_
#define RCU_CONTAINERS_LOOKUP_CACHE_H_

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "rcu/containers/internal/hash_table.h"
#include "rcu/containers/internal/key_traits.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {
namespace container_internal {

// How many times this process is a child of fork() (pthread_atfork bumps it in the child), so
// that a cache in a child does not wait for a load whose thread stayed in the parent.
inline uint64_t Forks() {
  static std::atomic<uint64_t> forks{0};
  [[maybe_unused]] static const int registered =
      pthread_atfork(nullptr, nullptr, [] { forks.fetch_add(1, std::memory_order_relaxed); });
  return forks.load(std::memory_order_relaxed);
}

}  // namespace container_internal

// Why an entry left the cache (LookupCacheOptions::on_removal).
enum class RemovalCause { kEvicted, kExpired, kErased, kReplaced };

// Counters a user can read at any time (LookupCache::Stats()); cheap enough to leave on.
struct LookupCacheStats {
  uint64_t hits = 0;           // Find, Get and GetOrLoad that found a live entry
  uint64_t misses = 0;         // ... that did not
  uint64_t loads = 0;          // loader calls that returned
  uint64_t load_failures = 0;  // loader calls that threw
  uint64_t evictions = 0;
  uint64_t expirations = 0;  // expired entries removed
  size_t size = 0;           // entries now
  size_t charge = 0;         // their total charge
};

template <typename K, typename V>
struct LookupCacheOptions {
  // Total charge the cache holds (entries, with the default charge of 1). At least 1.
  size_t capacity = 1024;
  // How long an entry lives after it was inserted or loaded; zero: forever.
  std::chrono::nanoseconds ttl{0};
  // Each entry's own lifetime (Caffeine's expireAfter), instead of `ttl` when set: an entry
  // lives expire_after(key, value) after it was inserted or loaded (zero: forever; negative:
  // std::invalid_argument from the insert or load). Negative caching: V = std::optional<T>,
  // with a shorter lifetime for nullopt. Runs outside the cache's lock.
  std::function<std::chrono::nanoseconds(const K&, const V&)> expire_after = nullptr;
  // Refresh (Caffeine's refreshAfterWrite): a GetOrLoad that finds an entry older than this
  // reloads it, while every other caller is served the old value without waiting; a reload that
  // throws keeps the old value (and counts as a load failure). Zero: never.
  std::chrono::nanoseconds refresh_after{0};
  // Called for every entry that leaves the cache, outside the cache's lock and inside a read-side
  // section of its domain.
  std::function<void(const K&, const V&, RemovalCause)> on_removal = nullptr;
};

template <typename K, typename V, typename Hash = DefaultHash<K>, typename Eq = DefaultEq<K>>
class LookupCache {
  // What the index holds for a key: the value, its node's id (for its expiry, with a ttl) and
  // S3-FIFO's frequency: the uses since it was inserted or last given another round, capped at
  // kMaxUses. Hits store the count (through std::atomic_ref) only while it is below the cap, in
  // the line they read the value from. Inline in the index's slots when V is small and
  // trivially copyable (uint64_t -> uint64_t: 24 bytes a slot); a resize copies a slot while
  // hits may store its count, which the copy reads atomically (a use counted in the old array
  // meanwhile may be lost: the count steers eviction only).
  struct Slot {
    using CopiedWhileRead = void;  // hash_table.h: inline although the copy is not trivial
    explicit Slot(V v) : value(std::move(v)) {}
    Slot(const Slot& other)
        : value(other.value), id(other.id), uses(UsesOf(other).load(std::memory_order_relaxed)) {}
    Slot& operator=(const Slot&) = delete;

    V value;
    mutable uint32_t id = 0;   // the entry's node: nodes_[id], expiries_[id]; set before publishing
    mutable uint8_t uses = 0;  // only through UsesOf() once published
  };
  static std::atomic_ref<uint8_t> UsesOf(const Slot& slot) {
    return std::atomic_ref<uint8_t>(slot.uses);
  }
  // The index readers probe: the hash map's engine, used directly so that what its updates
  // retire (entries in node mode, arrays a resize replaced) waits until the cache's lock is
  // released (R12: back-pressure may sleep in a retire, and a callback may update the cache).
  using Table = container_internal::HashTable<K, Slot, Hash, Eq>;
  using Entry = typename Table::Entry;
  template <typename Q>
  using KeyArg = typename container_internal::KeyArg<
      container_internal::kTransparent<Hash, Eq>>::template type<Q, K>;

 public:
  using Options = LookupCacheOptions<K, V>;

  // Throws std::invalid_argument for a zero capacity or a negative ttl.
  explicit LookupCache(const Options& options = Options(), Domain& domain = Domain::Default())
      : domain_(domain),
        options_(CheckedOptions(options)),
        small_capacity_(std::max<size_t>(1, options_.capacity / 10)),
        index_(domain, options_.capacity, Hash(), Eq()) {}
  explicit LookupCache(Domain& domain, const Options& options = Options())
      : LookupCache(options, domain) {}
  LookupCache(const LookupCache&) = delete;
  LookupCache& operator=(const LookupCache&) = delete;

  // LookupCache::~LookupCache()
  //
  // Frees every entry at once (no removal callbacks). Requires: no reader is inside a section
  // that reached the cache, no update or load runs.
  ~LookupCache() {
    for (Queue* q : {&small_, &main_}) {
      while (Node* n = q->PopTail()) delete n;
    }
  }

  // LookupCache::Find()
  //
  // The value of `key` if it is cached and not expired, or null; counts as a use. Wait-free.
  // Requires: `guard` holds a section of the cache's domain (R1).
  // Invalidates: the result when the guard's outermost section ends (K1).
  template <typename Q = K>
  const V* Find(const ReadGuard& guard, const KeyArg<Q>& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    const Entry* e = Use<Q>(guard, key, where);
    return e == nullptr ? nullptr : &e->value.value;
  }

  // LookupCache::Peek()
  //
  // As Find(), but not a use: neither the entry's frequency nor the statistics change.
  template <typename Q = K>
  const V* Peek(const ReadGuard& guard, const KeyArg<Q>& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    const Entry* e = Live<Q>(guard, index_.hash_function()(key), key, where);
    return e == nullptr ? nullptr : &e->value.value;
  }

  // LookupCache::Get()
  //
  // A copy of the value of `key`, or nullopt; counts as a use. Needs a copyable V.
  template <typename Q = K>
  std::optional<V> Get(const KeyArg<Q>& key) const {
    ReadGuard guard(domain_);
    const V* v = Find<Q>(guard, key);
    return v == nullptr ? std::nullopt : std::optional<V>(*v);
  }

  // LookupCache::GetOrLoad()
  //
  // The value of `key`, loaded with `loader(key)` (which returns a V) when it is absent or
  // expired, once however many threads miss it together; the value is cached unless the key
  // was erased (or the cache cleared) while it loaded (or the cache could not allocate room
  // for it). Rethrows what the loader threw (or expire_after, or V's copy), in every thread
  // that waited for it. Waiters are woken before the value is published.
  // With refresh_after, a caller that finds the entry due reloads it (unless a load of the key
  // is already running) and returns the new value; the others return the old one meanwhile.
  // Needs a copyable V.
  // Requires: the caller is not inside a section of the cache's domain (K3) and is not this
  // key's loader (K2).
  template <typename Loader>
  V GetOrLoad(const K& key, Loader&& loader,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    if (internal::kDebugChecks && domain_.InReadSection()) {
      internal::Die(where,
                    "K3: LookupCache::GetOrLoad() inside a read-side section of the cache's "
                    "domain (it may wait for another thread's load, holding up grace periods)");
    }
    std::optional<V> hit;  // with refresh_after: the old value, if the entry is due
    {
      ReadGuard guard(domain_);
      if (const Entry* e = Use<K>(guard, key, where)) {
        if (options_.refresh_after.count() == 0 ||
            Now() < refresh_at_[e->value.id].load(std::memory_order_relaxed)) {
          return e->value.value;
        }
        hit.emplace(e->value.value);
      }
    }
    std::shared_ptr<Flight> flight;
    bool mine = true;
    {
      std::lock_guard<std::mutex> lock(flights_mu_);
      auto it = flights_.find(key);
      if (it != flights_.end() && it->second->forks != container_internal::Forks()) {
        flights_.erase(it);  // a load the parent of this fork() child ran: its thread is not here
        it = flights_.end();
      }
      if (it != flights_.end() && it->second->loader == std::this_thread::get_id()) {
        internal::Die(where,
                      "K2: a LookupCache loader asked the cache for the key it is loading (it "
                      "would wait for itself)");
      }
      if (it != flights_.end()) {
        if (hit) return *std::move(hit);  // another thread reloads it: serve the old value
        flight = it->second;
        mine = false;
      } else {
        flight = std::make_shared<Flight>();
        flight->loader = std::this_thread::get_id();
        flights_.emplace(key, flight);
      }
    }
    if (!mine) return Wait(*flight);
    return Load(key, loader, std::move(flight), std::move(hit), where);
  }

  // LookupCache::Insert()
  //
  // Caches `key` -> `value` with `charge` (replacing what was cached for the key), evicting what
  // the capacity requires. Throws std::length_error if `charge` is over the capacity.
  void Insert(const K& key, V value, size_t charge = 1,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    if (charge > options_.capacity) {
      throw std::length_error("rcu::LookupCache::Insert: charge over the capacity");
    }
    Prepared prepared = Prepare(key, std::move(value), charge);
    Update(where, [&](Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      Publish(std::move(prepared.node), prepared.owned, pending);
    });
  }

  // LookupCache::Erase()
  //
  // Removes `key`; returns whether it was cached. No lookup that begins after it returns finds
  // the key, and a load of the key in flight does not publish its value (K4).
  template <typename Q = K>
  bool Erase(const KeyArg<Q>& key,
             const internal::SourceLocation& where = internal::SourceLocation::current()) {
    return Update(where, [&](Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
             {
               std::lock_guard<std::mutex> flights_lock(flights_mu_);
               if (auto it = flights_.find(key); it != flights_.end()) {
                 it->second->invalidated = true;
               }
             }
             if (const Entry* e = Indexed(key)) {
               Unlink(nodes_[e->value.id], e, RemovalCause::kErased, pending);
             }
           }) != 0;
  }

  // LookupCache::EraseIf()
  //
  // Removes every entry for which `pred(const K&, const V&)` is true; returns how many. `pred`
  // runs under the cache's lock and must not use the cache.
  template <typename Pred>
  size_t EraseIf(Pred pred,
                 const internal::SourceLocation& where = internal::SourceLocation::current()) {
    return Update(where, [&](Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (Queue* q : {&small_, &main_}) {
        for (Node* n = q->head; n != nullptr;) {
          Node* next = n->next;
          const Entry* e = IndexedEntry(*n);
          if (pred(static_cast<const K&>(n->key), static_cast<const V&>(e->value.value))) {
            Unlink(n, e, RemovalCause::kErased, pending);
          }
          n = next;
        }
      }
    });
  }

  // LookupCache::Clear()
  //
  // Removes every entry; loads in flight do not publish their values.
  void Clear(const internal::SourceLocation& where = internal::SourceLocation::current()) {
    Update(where, [&](Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      {
        std::lock_guard<std::mutex> flights_lock(flights_mu_);
        for (auto& [key, flight] : flights_) flight->invalidated = true;
      }
      for (Queue* q : {&small_, &main_}) {
        while (Node* n = q->tail) Unlink(n, IndexedEntry(*n), RemovalCause::kErased, pending);
      }
      ghost_.clear();
      ghost_fifo_.clear();
    });
  }

  // LookupCache::Stats()
  LookupCacheStats Stats() const {
    LookupCacheStats s;
    for (const Counters& c : counters_) {
      s.hits += c.hits.load(std::memory_order_relaxed);
      s.misses += c.misses.load(std::memory_order_relaxed);
      s.loads += c.loads.load(std::memory_order_relaxed);
      s.load_failures += c.load_failures.load(std::memory_order_relaxed);
      s.evictions += c.evictions.load(std::memory_order_relaxed);
      s.expirations += c.expirations.load(std::memory_order_relaxed);
    }
    UpdateLock lock(mu_);
    s.size = small_.size + main_.size;
    s.charge = small_.charge + main_.charge;
    return s;
  }

  // LookupCache::size()
  //
  // Entries cached (expired ones included until they are removed). Exact when no update runs.
  size_t size() const {
    UpdateLock lock(mu_);
    return small_.size + main_.size;
  }
  size_t capacity() const { return options_.capacity; }
  Domain& domain() const { return domain_; }

 private:
  static constexpr uint8_t kMaxUses = 3;  // S3-FIFO's frequency cap

  // An entry's place in the FIFOs: updaters only (hits read the index).
  struct Node {
    Node(const K& k, size_t h, size_t c, int64_t e) : key(k), hash(h), charge(c), expires_ns(e) {}
    const K key;
    const size_t hash;
    const size_t charge;
    const int64_t expires_ns;  // 0: never (as the index's slot)
    uint32_t id = 0;           // its index in nodes_ and expiries_
    bool in_main = false;
    Node* prev = nullptr;  // towards the head (newest)
    Node* next = nullptr;  // towards the tail (oldest)
  };

  // An atomic T per node id, for hits to read (and write, for use counts) by the id in an index
  // entry. In segments that double in size and are never freed while the cache lives, so that
  // a hit that read an id just before its entry was removed reaches a live T (at worst an
  // extra use for the id's next entry, or its expiry for the old value, which that hit may
  // return anyway: it began before the removal). Segment k holds ids [64 (2^k - 1),
  // 64 (2^(k+1) - 1)).
  template <typename T>
  class ById {
   public:
    ~ById() {
      for (auto& s : segments_) delete[] s.load(std::memory_order_relaxed);
    }
    std::atomic<T>& operator[](uint32_t id) const {
      const uint64_t v = uint64_t{id} + 64;
      const int k = std::bit_width(v) - 7;
      return segments_[k].load(std::memory_order_acquire)[v - (uint64_t{64} << k)];  // [U]
    }
    // Makes `id` usable. Throws std::bad_alloc. Updaters only (under the cache's lock).
    void Reserve(uint32_t id) {
      const int k = std::bit_width(uint64_t{id} + 64) - 7;
      if (segments_[k].load(std::memory_order_relaxed) != nullptr) return;
      auto* segment = new std::atomic<T>[size_t{64} << k]();
      segments_[k].store(segment, std::memory_order_release);  // [U] before any index names id
    }

   private:
    mutable std::array<std::atomic<std::atomic<T>*>, 27> segments_{};
  };

  // A FIFO of nodes: push at the head, pop at the tail. Updaters only.
  struct Queue {
    Node* head = nullptr;
    Node* tail = nullptr;
    size_t size = 0;
    size_t charge = 0;
    void PushHead(Node* n) {
      n->prev = nullptr;
      n->next = head;
      (head != nullptr ? head->prev : tail) = n;
      head = n;
      ++size;
      charge += n->charge;
    }
    void Remove(Node* n) {
      (n->prev != nullptr ? n->prev->next : head) = n->next;
      (n->next != nullptr ? n->next->prev : tail) = n->prev;
      n->prev = n->next = nullptr;
      --size;
      charge -= n->charge;
    }
    Node* PopTail() {
      Node* n = tail;
      if (n != nullptr) Remove(n);
      return n;
    }
  };

  // One load in flight: its waiters sleep on done_cv (under flights_mu_).
  struct Flight {
    std::thread::id loader;                              // K2 (flights_mu_)
    const uint64_t forks = container_internal::Forks();  // the process it runs in
    bool invalidated = false;  // K4: erased or cleared meanwhile (flights_mu_)
    bool done = false;
    std::optional<V> value;
    std::exception_ptr error;
    std::condition_variable done_cv;
  };

  // Statistics, striped by thread so that counting is not a shared-line write.
  struct alignas(64) Counters {
    std::atomic<uint64_t> hits{0}, misses{0}, loads{0}, load_failures{0}, evictions{0},
        expirations{0};
  };
  static constexpr size_t kStripes = 16;

  // What an update removed, retired once the cache's lock is released: the nodes (with their
  // causes, for the listener, which runs first) and the index's own leftovers.
  struct Removed {
    std::unique_ptr<Node> node;
    const V* value;  // in the index's retired entry: readable while the update's section lasts
    RemovalCause cause;
  };
  struct Pending {
    Pending(Domain& domain, const internal::SourceLocation& where) : retired(domain, where) {}
    std::vector<Removed> removed;
    container_internal::RetireBatch<> retired;
  };

  static Options CheckedOptions(const Options& options) {
    if (options.capacity == 0) {
      throw std::invalid_argument("rcu::LookupCache: capacity must be at least 1");
    }
    if (options.ttl.count() < 0 || options.refresh_after.count() < 0) {
      throw std::invalid_argument("rcu::LookupCache: ttl and refresh_after must not be negative");
    }
    return options;
  }

  // The coarse monotonic clock (the kernel's tick, read without a system call), in ns.
  static int64_t Now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
  }
  // When an entry of `key` -> `value` inserted now expires (0: never). User code: no lock.
  int64_t Expiry(const K& key, const V& value) const {
    const std::chrono::nanoseconds life =
        options_.expire_after ? options_.expire_after(key, value) : options_.ttl;
    if (life.count() < 0) {
      throw std::invalid_argument("rcu::LookupCache: expire_after returned a negative lifetime");
    }
    return life.count() == 0 ? 0 : Now() + life.count();
  }
  static bool Expired(int64_t expires_ns) { return expires_ns != 0 && Now() >= expires_ns; }
  static bool Expired(const Node& n) { return Expired(n.expires_ns); }

  void Count(std::atomic<uint64_t> Counters::*counter, uint64_t n = 1) const {
    static thread_local const size_t stripe =
        std::hash<std::thread::id>()(std::this_thread::get_id()) % kStripes;
    (counters_[stripe].*counter).fetch_add(n, std::memory_order_relaxed);
  }

  template <typename Q>
  const Entry* Live(const ReadGuard& guard, size_t hash, const KeyArg<Q>& key,
                    const internal::SourceLocation& where) const {
    internal::CheckGuard(guard, domain_, "R1", "LookupCache::Find()", where);
    const Entry* e = index_.Find(hash, key);
    if (e == nullptr) return nullptr;
    if (expires_ && Expired(expiries_[e->value.id].load(std::memory_order_relaxed))) {
      return nullptr;
    }
    return e;
  }

  // The live entry of `key`, counted as a hit and a use, or null, counted as a miss.
  template <typename Q>
  const Entry* Use(const ReadGuard& guard, const KeyArg<Q>& key,
                   const internal::SourceLocation& where) const {
    const Entry* e = Live<Q>(guard, index_.hash_function()(key), key, where);
    if (e == nullptr) {
      Count(&Counters::misses);
      return nullptr;
    }
    Count(&Counters::hits);
    std::atomic_ref<uint8_t> uses = UsesOf(e->value);
    // A load and a store, not an increment: two hits may count once (as in CLOCK), and a
    // count at the cap is not written at all, so hot keys' lines stay shared.
    if (const uint8_t n = uses.load(std::memory_order_relaxed); n < kMaxUses) {
      uses.store(n + 1, std::memory_order_relaxed);
    }
    return e;
  }

  // Runs `flight` (this thread's load of `key`): loads, caches, and hands the outcome to its
  // waiters. A refresh (`old` holds the value being replaced) that fails returns the old value.
  template <typename Loader>
  V Load(const K& key, Loader& loader, std::shared_ptr<Flight> flight, std::optional<V> old,
         const internal::SourceLocation& where) {
    std::optional<V> value;
    std::optional<Prepared> prepared;
    std::exception_ptr error;
    try {
      value.emplace(loader(key));
      Count(&Counters::loads);
      prepared.emplace(Prepare(key, *value, 1));
    } catch (...) {
      if (!value) Count(&Counters::load_failures);
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(flights_mu_);
      flight->value = value;
      flight->error = error;
      flight->done = true;
    }
    // The waiters go on while this thread publishes; the flight stays listed until then, so a
    // caller that comes meanwhile takes the value from it instead of loading again.
    flight->done_cv.notify_all();
    if (prepared) {
      try {
        Fill(*std::move(prepared), *flight, where);
      } catch (const std::bad_alloc&) {
        // The cache could not make room for an id: the value is returned, not cached.
      }
    }
    {
      std::lock_guard<std::mutex> lock(flights_mu_);
      flights_.erase(key);
    }
    if (error && old) return *std::move(old);
    if (error) std::rethrow_exception(error);
    return *std::move(value);
  }

  V Wait(Flight& flight) {
    std::unique_lock<std::mutex> lock(flights_mu_);
    flight.done_cv.wait(lock, [&] { return flight.done; });
    if (flight.error) std::rethrow_exception(flight.error);
    return *flight.value;
  }

  // An entry ready to publish: made before the cache's lock is taken (user code: expire_after,
  // V's copy or move; allocations).
  struct Prepared {
    typename Table::Owned owned;
    std::unique_ptr<Node> node;
  };
  Prepared Prepare(const K& key, V value, size_t charge) const {
    const int64_t expires = Expiry(key, value);
    return {Make(key, std::move(value)),
            std::make_unique<Node>(key, index_.hash_function()(key), charge, expires)};
  }

  // Publishes a loaded value unless its key was erased (or the cache cleared) while it loaded.
  void Fill(Prepared prepared, const Flight& flight, const internal::SourceLocation& where) {
    Update(where, [&](Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      bool invalidated;
      {
        std::lock_guard<std::mutex> flights_lock(flights_mu_);
        invalidated = flight.invalidated;
      }
      if (!invalidated) Publish(std::move(prepared.node), prepared.owned, pending);
    });
  }

  // Indexes `node` (replacing the key's old entry) and evicts down to the capacity.
  void Publish(std::unique_ptr<Node> node, typename Table::Owned& owned, Pending& pending)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint32_t id = NewId();  // the only allocation before the first change
    node->id = EntryOf(owned).value.id = id;
    if (expires_) expiries_[id].store(node->expires_ns, std::memory_order_relaxed);
    if (options_.refresh_after.count() != 0) {
      refresh_at_[id].store(Now() + options_.refresh_after.count(), std::memory_order_relaxed);
    }
    bool main = false;  // a replaced entry's place, or a remembered ghost's, is the main FIFO
    if (const Entry* e = Indexed(node->key)) {
      Node* old = nodes_[e->value.id];
      main = old->in_main;
      Unlink(old, e, Expired(*old) ? RemovalCause::kExpired : RemovalCause::kReplaced, pending,
             /*reindexed=*/true);
    }
    const size_t hash = node->hash;
    Node* n = node.release();
    nodes_[id] = n;
    if (auto g = ghost_.find(hash); g != ghost_.end()) {
      if (--g->second == 0) ghost_.erase(g);  // its FIFO entry ages out on its own
      main = true;
    }
    if (main) {
      n->in_main = true;
      main_.PushHead(n);
    } else {
      small_.PushHead(n);
    }
    index_.Link(hash, owned, /*assign=*/true, pending.retired);
    while (small_.charge + main_.charge > options_.capacity) Evict(pending);
  }

  // S3-FIFO: evicts from the small FIFO while it holds its share, else from the main one.
  void Evict(Pending& pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (small_.charge >= small_capacity_ || main_.tail == nullptr) {
      Node* n = small_.tail;
      std::atomic_ref<uint8_t> uses = UsesOf(IndexedEntry(*n)->value);
      if (uses.load(std::memory_order_relaxed) > 0 && !Expired(*n)) {
        small_.Remove(n);  // used again while on probation: to the main FIFO
        uses.store(0, std::memory_order_relaxed);
        n->in_main = true;
        main_.PushHead(n);
        return;
      }
      Remember(n->hash);
      Unlink(n, IndexedEntry(*n), RemovalCause::kEvicted, pending);
      return;
    }
    for (;;) {
      Node* n = main_.tail;
      const Entry* e = IndexedEntry(*n);
      std::atomic_ref<uint8_t> uses = UsesOf(e->value);
      const uint8_t used = uses.load(std::memory_order_relaxed);
      if (used > 0 && !Expired(*n)) {
        main_.Remove(n);  // another round, one use fewer
        uses.store(used - 1, std::memory_order_relaxed);
        main_.PushHead(n);
        continue;
      }
      Unlink(n, e, RemovalCause::kEvicted, pending);
      return;
    }
  }

  // The ghost FIFO remembers as many evicted keys (by hash) as the main FIFO's share holds.
  void Remember(size_t hash) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++ghost_[hash];
    ghost_fifo_.push_back(hash);
    const size_t most = std::max<size_t>(1, options_.capacity - small_capacity_);
    while (ghost_fifo_.size() > most) {
      const size_t old = ghost_fifo_.front();
      ghost_fifo_.pop_front();
      if (auto g = ghost_.find(old); g != ghost_.end() && --g->second == 0) ghost_.erase(g);
    }
  }

  // Takes `n` (whose index entry is `e`) out of its FIFO and (unless its key is about to be
  // indexed to a successor: `reindexed`) the index. Its id is free at once (expiries_ outlives it);
  // the index retires `e` after the update's section, which the listener reads it in.
  void Unlink(Node* n, const Entry* e, RemovalCause cause, Pending& pending, bool reindexed = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    (n->in_main ? main_ : small_).Remove(n);
    if (!reindexed) index_.Unlink(n->hash, n->key, pending.retired);
    if (cause == RemovalCause::kEvicted && Expired(*n)) cause = RemovalCause::kExpired;
    if (cause == RemovalCause::kEvicted) Count(&Counters::evictions);
    if (cause == RemovalCause::kExpired) Count(&Counters::expirations);
    nodes_[n->id] = nullptr;
    free_ids_.push_back(n->id);  // reserved by NewId(): no allocation
    pending.removed.push_back({std::unique_ptr<Node>(n), &e->value.value, cause});
  }

  // A fresh id with a zero use count. Throws std::bad_alloc before anything changed.
  uint32_t NewId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (free_ids_.empty()) {
      if (nodes_.size() == UINT32_MAX)
        throw std::length_error("rcu::LookupCache: too many entries");
      const auto id = static_cast<uint32_t>(nodes_.size());
      if (expires_) expiries_.Reserve(id);
      if (options_.refresh_after.count() != 0) refresh_at_.Reserve(id);
      free_ids_.reserve(nodes_.size() + 1);
      nodes_.push_back(nullptr);
      free_ids_.push_back(id);
    }
    const uint32_t id = free_ids_.back();
    free_ids_.pop_back();
    return id;
  }

  // The index entry of `key`, for an updater (under the lock, so no other update retires it).
  template <typename Q>
  const Entry* Indexed(const Q& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ReadGuard guard(domain_);  // the probe reads slots other keys' updates may recycle
    return index_.Find(index_.hash_function()(key), key);
  }

  // The index entry of node `n` (which is indexed: every node in a FIFO is).
  const Entry* IndexedEntry(const Node& n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ReadGuard guard(domain_);  // as in Indexed()
    return index_.Find(n.hash, n.key);
  }

  static typename Table::Owned Make(const K& key, V&& value) {
    if constexpr (Table::kInline) {
      return Entry{key, Slot{std::move(value)}};
    } else {
      return std::unique_ptr<Entry>(new Entry{key, Slot{std::move(value)}});
    }
  }
  static const Entry& EntryOf(const typename Table::Owned& owned) {
    if constexpr (Table::kInline) {
      return owned;
    } else {
      return *owned;
    }
  }

  // Runs `fn(pending)` under the cache's lock, then the listener for what it removed, both in
  // one read-side section: a removed entry's value is read where readers read it, in the index
  // entry the update retired, which the section keeps. The entries and arrays the index
  // retired go to the domain after the section (R12); the nodes are freed then (hits never
  // read them). Returns how many entries were removed.
  template <typename Fn>
  size_t Update(const internal::SourceLocation& where, Fn fn) ABSL_LOCKS_EXCLUDED(mu_) {
    Pending pending(domain_, where);
    {
      ReadGuard section(domain_);
      {
        UpdateLock lock(mu_);
        fn(pending);
      }
      if (options_.on_removal) {
        for (const Removed& r : pending.removed) {
          options_.on_removal(r.node->key, *r.value, r.cause);
        }
      }
    }
    return pending.removed.size();
  }

  Domain& domain_;
  const Options options_;
  const bool expires_ = options_.ttl.count() != 0 || options_.expire_after != nullptr;
  const size_t small_capacity_;
  Table index_;
  mutable UpdateMutex mu_;
  Queue small_ ABSL_GUARDED_BY(mu_);
  Queue main_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<size_t, uint32_t> ghost_ ABSL_GUARDED_BY(mu_);  // hash -> times in FIFO
  std::deque<size_t> ghost_fifo_ ABSL_GUARDED_BY(mu_);
  std::mutex flights_mu_;  // after mu_ when both are held
  absl::flat_hash_map<K, std::shared_ptr<Flight>, Hash, Eq> flights_;
  std::vector<Node*> nodes_ ABSL_GUARDED_BY(mu_);        // by id; null: a free id
  std::vector<uint32_t> free_ids_ ABSL_GUARDED_BY(mu_);  // capacity: nodes_.size()
  ById<int64_t> expiries_;    // with a ttl or expire_after (expires_): when each entry expires
  ById<int64_t> refresh_at_;  // with refresh_after: when each entry is due for a reload
  mutable std::array<Counters, kStripes> counters_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_LOOKUP_CACHE_H_
