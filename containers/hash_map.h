// -----------------------------------------------------------------------------
// File: hash_map.h
// -----------------------------------------------------------------------------
//
// `rcu::HashMap<K, V>` is a concurrent hash map for lookup services: lookups are wait-free and
// take no lock (a read-side section, nothing else); updates lock one of 32 stripes, not the
// whole map; the table grows and shrinks while lookups go on. Use it when lookups dominate
// (routing, name resolution, caches of configuration). Do not use it when you need to iterate a
// consistent snapshot of many keys (see rcu::ReplaceMap), or when updates dominate.
//
// Read side:    `Find(guard, key)` returns a `const V*` that stays valid until the guard's
//               outermost section ends (H4: do not keep it longer; `Get(key)` copies instead).
//               A lookup never misses a key that is present throughout it, resizes included
//               (H3): it reads one table, complete, whichever it gets.
// Update side:  Insert, InsertOrAssign and Erase lock the key's stripe. A value is never changed
//               in place: InsertOrAssign links a new node and retires the old one, so a reader
//               sees one whole value. A resize takes every stripe, copies the nodes into a new
//               table, publishes it and retires the old one.
// Lookup cache: a small table of node pointers in front of the buckets (Options::lookup_cache,
//               off by default, see there; Options::cache_slots entries), filled by lookups that
//               walked a chain, into free slots only (so that a warm cache takes no writes), so a
//               hot key skips the bucket array and the chain. It never hands out an element whose
//               removal has begun (H1, the seed's bug hunt 2): removal sets the node's `removed`
//               flag and then scrubs the cache slot; a lookup that fills a slot then checks the
//               flag and undoes its fill (the two sides order store-then-load, so one of them sees
//               the other); a cache hit checks the flag too; and a removed node is freed only after
//               two grace periods, the second for lookups that read it from the cache just before
//               it was scrubbed.
// Reclamation:  erased and replaced nodes, and old tables, are retired on the map's domain.
//               The destructor frees everything at once and requires that no reader is inside.
// Memory order: a node is published with release order and read with acquire: a lookup that
//               finds it sees its key and value fully constructed.
// Progress:     Find/Contains wait-free; updates block on their stripe; a resize blocks updates
//               (never lookups) while it copies.
// Misuse:       H1 and H3 by construction, H2 by construction (the cache slot is loaded once),
//               H4 (documentation; ASan in the tests), R1 (Find needs a ReadGuard of the map's
//               domain: compile time for the token, debug check for the domain).
//
// Example:
//   rcu::HashMap<uint64_t, Route> routes;
//   routes.InsertOrAssign(key, Route{...});
//
//   std::optional<std::string> NextHop(uint64_t key) {
//     rcu::ReadGuard guard;
//     const Route* r = routes.Find(guard, key);
//     if (r == nullptr) return std::nullopt;
//     return r->next_hop;
//   }

#ifndef RCU_CONTAINERS_HASH_MAP_H_
#define RCU_CONTAINERS_HASH_MAP_H_

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/hash/hash.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"

namespace rcu {

struct HashMapOptions {
  // Buckets of the first table (rounded up to a power of two). The table doubles when it holds
  // more than one element per bucket and halves when it holds fewer than one per 8 buckets.
  size_t initial_buckets = 16;
  // The lookup cache (see the file comment) and its size (rounded up to a power of two). Off by
  // default: with cheap keys (integers) it measured slower than none, 0.8x on Zipf(0.99) over 1M
  // keys, because hot buckets and nodes stay in the CPU caches anyway. Turn it on when a chain
  // walk is expensive: costly key comparisons (long strings), or long chains.
  bool lookup_cache = false;
  size_t cache_slots = 4096;
};

template <typename K, typename V, typename Hash = absl::Hash<K>, typename Eq = std::equal_to<K>>
class HashMap {
  struct Node;
  struct Table;

 public:
  explicit HashMap(Domain& domain = Domain::Default(), const HashMapOptions& options = {})
      : domain_(domain),
        min_buckets_(std::bit_ceil(std::max<size_t>(options.initial_buckets, 1))),
        cache_slots_(options.lookup_cache ? std::bit_ceil(std::max<size_t>(options.cache_slots, 2))
                                          : 0),
        cache_shift_(cache_slots_ == 0 ? 0 : 64 - std::countr_zero(cache_slots_)),
        cache_(cache_slots_ == 0 ? nullptr : new std::atomic<Node*>[cache_slots_]()) {
    table_.store(Table::Create(min_buckets_), std::memory_order_release);
    buckets_.store(min_buckets_, std::memory_order_relaxed);
  }

  HashMap(const HashMap&) = delete;
  HashMap& operator=(const HashMap&) = delete;

  // HashMap::~HashMap()
  //
  // Frees every element at once. Requires: no reader is inside a section that reached the map,
  // and no update runs. Elements already retired are freed by the domain.
  ~HashMap() { Table::Destroy(table_.load(std::memory_order_relaxed), /*nodes=*/true); }

  // HashMap::Find()
  //
  // The value for `key`, or null. Wait-free.
  // Requires: `guard` holds a section of the map's domain (R1).
  // Invalidates: the result when the guard's outermost section ends.
  const V* Find(const ReadGuard& guard, const K& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    if (internal::kDebugChecks && &guard.domain() != &domain_) {
      internal::Die(where, "R1: HashMap::Find() with a ReadGuard of another domain");
    }
    const size_t hash = hasher_(key);
    std::atomic<Node*>* slot = nullptr;
    if (cache_slots_ != 0) {
      slot = &cache_[hash >> cache_shift_];
      const Node* cached = slot->load(std::memory_order_acquire);  // loaded once (H2)
      if (cached != nullptr && cached->hash == hash && eq_(cached->key, key) &&
          !cached->removed.load(std::memory_order_acquire)) {
        return &cached->value;
      }
    }
    const Table* table = table_.load(std::memory_order_acquire);
    for (Node* n = table->Bucket(hash).load(std::memory_order_acquire); n != nullptr;
         n = n->next.load(std::memory_order_acquire)) {
      if (n->hash == hash && eq_(n->key, key)) {
        if (slot != nullptr) MaybeCache(*slot, n);
        return &n->value;
      }
    }
    return nullptr;
  }

  // HashMap::Contains()
  bool Contains(const ReadGuard& guard, const K& key) const { return Find(guard, key) != nullptr; }

  // HashMap::Get()
  //
  // A copy of the value for `key`, read in a section of its own.
  std::optional<V> Get(const K& key) const {
    ReadGuard guard(domain_);
    const V* v = Find(guard, key);
    return v == nullptr ? std::nullopt : std::optional<V>(*v);
  }

  // HashMap::ForEach()
  //
  // Calls fn(const K&, const V&) for the elements of one table. Elements inserted or erased
  // meanwhile may or may not be visited; none is visited twice. Not a snapshot across keys.
  template <typename Fn>
  void ForEach(const ReadGuard& guard, Fn fn) const {
    const Table* table = table_.load(std::memory_order_acquire);
    for (size_t b = 0; b <= table->mask; ++b) {
      for (Node* n = table->buckets()[b].load(std::memory_order_acquire); n != nullptr;
           n = n->next.load(std::memory_order_acquire)) {
        fn(n->key, n->value);
      }
    }
  }

  // HashMap::Insert()
  //
  // Inserts `key` -> `value` unless `key` is present. Returns whether it inserted.
  bool Insert(const K& key, V value) { return Upsert(key, std::move(value), /*assign=*/false); }

  // HashMap::InsertOrAssign()
  //
  // Inserts, or replaces the value of a present key (readers see the old or the new value,
  // whole). Returns whether it inserted.
  bool InsertOrAssign(const K& key, V value) {
    return Upsert(key, std::move(value), /*assign=*/true);
  }

  // HashMap::Erase()
  //
  // Removes `key`. Returns whether it was present. After it returns, no lookup that begins
  // later finds the key (the cache included).
  bool Erase(const K& key) {
    const size_t hash = hasher_(key);
    size_t size;
    {
      UpdateLock lock(StripeFor(hash));
      std::atomic<Node*>& bucket = table_.load(std::memory_order_relaxed)->Bucket(hash);
      std::atomic<Node*>* link = FindLink(bucket, hash, key);
      Node* n = link->load(std::memory_order_relaxed);
      if (n == nullptr) return false;
      link->store(n->next.load(std::memory_order_relaxed), std::memory_order_release);
      Remove(n);
      size = size_.fetch_sub(1, std::memory_order_relaxed) - 1;
    }
    if (size * 8 < BucketCount() && BucketCount() > min_buckets_) Resize(/*grow=*/false);
    return true;
  }

  // HashMap::size() / bucket_count()
  //
  // Exact when no update runs; a snapshot otherwise.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  bool empty() const { return size() == 0; }
  size_t bucket_count() const { return BucketCount(); }

  Domain& domain() const { return domain_; }

 private:
  // Updates lock one of kStripes stripes (by hash). A resize holds them all, so the count stays
  // under ThreadSanitizer's limit of 64 locks held by one thread.
  static constexpr size_t kStripes = 32;

  // Deferred free of a node or a table: after `grace_periods_left` grace periods (two when the
  // cache is on). Standard layout with the head first, so a CallbackHead* converts back.
  struct FreeLink {
    CallbackHead head;
    Domain* domain = nullptr;
    int grace_periods_left = 0;
  };

  struct Node {
    Node(size_t h, const K& k, V v, Node* n) : next(n), hash(h), key(k), value(std::move(v)) {}
    // What a lookup reads comes first, so that it usually shares the node's first cache line.
    std::atomic<Node*> next;
    const size_t hash;
    const K key;
    const V value;
    std::atomic<bool> removed{false};  // set before the node is unlinked or its table replaced
    FreeLink free;                     // used once the node is removed
  };

  struct Table {
    size_t mask;
    // The bucket array follows the header in the same allocation: one load less per lookup.
    std::atomic<Node*>* buckets() const {
      return reinterpret_cast<std::atomic<Node*>*>(const_cast<Table*>(this) + 1);
    }
    std::atomic<Node*>& Bucket(size_t hash) const { return buckets()[hash & mask]; }

    // Large bucket arrays go in transparent huge pages where the system allows it: every lookup
    // starts with a random access into the array, and a TLB miss doubles its cost.
    static constexpr size_t kHugePage = size_t{2} << 20;
    static size_t Alignment(size_t bytes) { return bytes >= kHugePage ? kHugePage : 64; }

    static Table* Create(size_t n) {
      const size_t bytes = sizeof(Table) + n * sizeof(std::atomic<Node*>);
      void* memory = ::operator new(bytes, std::align_val_t(Alignment(bytes)));
      if (bytes >= kHugePage) madvise(memory, bytes & ~(kHugePage - 1), MADV_HUGEPAGE);
      auto* table = new (memory) Table{n - 1};
      for (size_t i = 0; i < n; ++i) new (&table->buckets()[i]) std::atomic<Node*>(nullptr);
      return table;
    }
    static void Destroy(Table* table, bool nodes) {
      if (nodes) {
        for (size_t b = 0; b <= table->mask; ++b) {
          for (Node* n = table->buckets()[b].load(std::memory_order_relaxed); n != nullptr;) {
            Node* next = n->next.load(std::memory_order_relaxed);
            delete n;
            n = next;
          }
        }
      }
      const size_t bytes = sizeof(Table) + (table->mask + 1) * sizeof(std::atomic<Node*>);
      table->~Table();
      ::operator delete(table, std::align_val_t(Alignment(bytes)));
    }
  };

  // An old table and its nodes, waiting for their grace periods.
  struct RetiredTable : FreeLink {
    Table* table = nullptr;
  };

  struct alignas(64) Stripe {
    UpdateMutex mu;
  };

  UpdateMutex& StripeFor(size_t hash) const { return stripes_[hash % kStripes].mu; }
  // The bucket count, kept apart from the table so that no one dereferences a table outside a
  // stripe lock or a read-side section (a resize may retire it at any time).
  size_t BucketCount() const { return buckets_.load(std::memory_order_relaxed); }
  int GracePeriodsBeforeFree() const { return cache_slots_ != 0 ? 2 : 1; }

  // The link (a bucket head or a node's next) that points to `key`'s node, or the null link at
  // the end of the chain. Requires: the key's stripe is held.
  std::atomic<Node*>* FindLink(std::atomic<Node*>& bucket, size_t hash, const K& key) const {
    std::atomic<Node*>* link = &bucket;
    for (Node* n = link->load(std::memory_order_relaxed);
         n != nullptr && !(n->hash == hash && eq_(n->key, key));
         n = link->load(std::memory_order_relaxed)) {
      link = &n->next;
    }
    return link;
  }

  bool Upsert(const K& key, V value, bool assign) {
    const size_t hash = hasher_(key);
    size_t size;
    {
      UpdateLock lock(StripeFor(hash));
      std::atomic<Node*>& bucket = table_.load(std::memory_order_relaxed)->Bucket(hash);
      std::atomic<Node*>* link = FindLink(bucket, hash, key);
      Node* n = link->load(std::memory_order_relaxed);
      if (n != nullptr) {
        if (!assign) return false;
        // Replace, never modify in place: readers see the old node or the new one, whole.
        Node* fresh =
            new Node(hash, key, std::move(value), n->next.load(std::memory_order_relaxed));
        link->store(fresh, std::memory_order_release);
        Remove(n);
        return false;
      }
      bucket.store(new Node(hash, key, std::move(value), bucket.load(std::memory_order_relaxed)),
                   std::memory_order_release);
      size = size_.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    if (size > BucketCount()) Resize(/*grow=*/true);
    return true;
  }

  // A lookup found `n` by walking a chain: remember it if its cache slot is free. Slots are never
  // overwritten (removal frees them), so once warm the cache takes no writes: overwriting on
  // every miss thrashes it with cold keys and bounces its lines between cores. Under skew the
  // keys that arrive first, and so fill the slots, are the hot ones.
  void MaybeCache(std::atomic<Node*>& slot, Node* n) const {
    if (slot.load(std::memory_order_relaxed) != nullptr) return;
    // Store, then check `removed` (seq_cst both): Remove() stores `removed`, then checks the
    // slot. One of the two sees the other; if it is us, we undo our fill.
    slot.store(n, std::memory_order_seq_cst);
    if (n->removed.load(std::memory_order_seq_cst)) {
      Node* expected = n;
      slot.compare_exchange_strong(expected, nullptr, std::memory_order_seq_cst);
    }
  }

  // `n` is unlinked (or its table replaced): make sure the cache stops handing it out, and free
  // it after its grace periods.
  void Remove(Node* n) {
    Unpublish(n);
    Defer(&n->free, &FreeNode);
  }

  void Defer(FreeLink* link, void (*free)(CallbackHead*)) {
    link->domain = &domain_;
    link->grace_periods_left = GracePeriodsBeforeFree();
    domain_.Call(&link->head, free);
  }

  // Counts down a FreeLink's grace periods; true when it is time to free.
  static bool LastGracePeriod(CallbackHead* head, void (*self)(CallbackHead*)) {
    auto* link = reinterpret_cast<FreeLink*>(head);
    if (--link->grace_periods_left == 0) return true;
    link->domain->Call(&link->head, self);  // the second grace period (see the file comment)
    return false;
  }

  void Unpublish(Node* n) {
    n->removed.store(true, std::memory_order_seq_cst);
    if (cache_slots_ != 0) {
      Node* expected = n;
      cache_[n->hash >> cache_shift_].compare_exchange_strong(expected, nullptr,
                                                              std::memory_order_seq_cst);
    }
  }

  static void FreeNode(CallbackHead* head) {
    if (LastGracePeriod(head, &FreeNode)) {
      delete ContainerOf(reinterpret_cast<FreeLink*>(head), &Node::free);
    }
  }

  static void FreeTable(CallbackHead* head) {
    if (LastGracePeriod(head, &FreeTable)) {
      auto* r = static_cast<RetiredTable*>(reinterpret_cast<FreeLink*>(head));
      Table::Destroy(r->table, /*nodes=*/true);
      delete r;
    }
  }

  void Resize(bool grow) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    // Every stripe, in order: no update runs while the nodes are copied.
    for (Stripe& s : stripes_) s.mu.lock();
    Table* old = table_.load(std::memory_order_relaxed);
    const size_t buckets = old->mask + 1;
    const size_t size = size_.load(std::memory_order_relaxed);
    const bool needed = grow ? size > buckets : (size * 8 < buckets && buckets > min_buckets_);
    RetiredTable* retired = nullptr;
    if (needed) {
      Table* fresh = Table::Create(grow ? buckets * 2 : buckets / 2);
      for (size_t b = 0; b < buckets; ++b) {
        for (Node* n = old->buckets()[b].load(std::memory_order_relaxed); n != nullptr;
             n = n->next.load(std::memory_order_relaxed)) {
          std::atomic<Node*>& bucket = fresh->Bucket(n->hash);
          bucket.store(new Node(n->hash, n->key, n->value, bucket.load(std::memory_order_relaxed)),
                       std::memory_order_relaxed);
        }
      }
      table_.store(fresh, std::memory_order_release);  // publishes the nodes too
      buckets_.store(fresh->mask + 1, std::memory_order_relaxed);
      for (size_t b = 0; b < buckets; ++b) {
        for (Node* n = old->buckets()[b].load(std::memory_order_relaxed); n != nullptr;
             n = n->next.load(std::memory_order_relaxed)) {
          Unpublish(n);
        }
      }
      retired = new RetiredTable;
      retired->table = old;
    }
    for (size_t i = kStripes; i-- > 0;) stripes_[i].mu.unlock();
    if (retired != nullptr) Defer(retired, &FreeTable);
  }

  Domain& domain_;
  const size_t min_buckets_;
  const size_t cache_slots_;
  const int cache_shift_;
  const std::unique_ptr<std::atomic<Node*>[]> cache_;
  [[no_unique_address]] Hash hasher_;
  [[no_unique_address]] Eq eq_;
  alignas(64) std::atomic<Table*> table_{nullptr};
  std::atomic<size_t> buckets_{0};
  std::atomic<size_t> size_{0};
  mutable Stripe stripes_[kStripes];
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_HASH_MAP_H_
