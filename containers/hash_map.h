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
// Update side:  Insert, InsertOrAssign and Erase lock the key's stripe (one of 32; the stripe
//               follows from the chain, see kStripes). A value is never changed in place:
//               InsertOrAssign links a new node and retires the old one, so a reader sees one
//               whole value. Elements are never copied or moved by the map: a resize takes every
//               stripe and relinks the nodes into a new table (through a second link each node
//               carries, so readers of the old table find its chains intact), publishes it and
//               retires the old bucket array. A resize that comes within a grace period of the
//               previous one waits for a later update (it never waits for readers).
// Values:       any V that is move-constructible, move-only types included (Get() alone needs
//               a copyable V). Exceptions: every update gives the strong guarantee: the node is
//               built (K copied, V moved: user code) before a stripe is taken, and a throw from
//               the hash, the equality or a constructor leaves the map unchanged. A resize never
//               throws: without memory the table keeps its size.
// Callbacks:    no stripe is held while an update queues its retirement, so back-pressure
//               (R12) never sleeps under a stripe, and callbacks may update any map.
// Lookup cache: a small table of node pointers in front of the buckets (Options::lookup_cache,
//               off by default, see there; Options::cache_slots entries), filled by lookups that
//               walked a chain, into free slots only (so that a warm cache takes no writes), so a
//               hot key skips the bucket array and the chain. It never hands out an element whose
//               removal has begun (H1, the seed's bug hunt 2): removal sets the node's `removed`
//               flag and scrubs the cache slot under the key's stripe; a lookup fills a slot only
//               under the same stripe (try_lock: it never waits) and only with a node that is
//               not removed. So a removed node is never put back, one grace period covers every
//               lookup that read it from the cache, and its free is an ordinary Retire().
// Reclamation:  erased and replaced nodes, and old bucket arrays, are retired on the map's
//               domain: Barrier() returns after all of them are freed. The destructor frees the
//               elements at once and requires that no reader is inside.
// Memory order: a node is published with release order and read with acquire: a lookup that
//               finds it sees its key and value fully constructed.
// Progress:     Find/Contains wait-free; updates block on their stripe; a resize blocks updates
//               (never lookups) while it relinks.
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
  // Buckets of the first table (rounded up to a power of two, and at least 32: see kStripes),
  // and the fewest the table shrinks to. The table grows when it holds more than one element per
  // bucket and shrinks when it holds fewer than one per 8 buckets.
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
        min_buckets_(std::bit_ceil(std::max<size_t>(options.initial_buckets, kStripes))),
        cache_slots_(options.lookup_cache ? std::bit_ceil(std::max<size_t>(options.cache_slots, 2))
                                          : 0),
        cache_shift_(cache_slots_ == 0 ? 0 : 64 - std::countr_zero(cache_slots_)),
        cache_(cache_slots_ == 0 ? nullptr : new std::atomic<Node*>[cache_slots_]()) {
    Table* table = Table::Create(min_buckets_, /*link=*/0);
    if (table == nullptr) throw std::bad_alloc();
    table_.store(table, std::memory_order_release);
    buckets_.store(min_buckets_, std::memory_order_relaxed);
  }

  HashMap(const HashMap&) = delete;
  HashMap& operator=(const HashMap&) = delete;

  // HashMap::~HashMap()
  //
  // Frees every element at once. Requires: no reader is inside a section that reached the map,
  // and no update runs. Elements and tables already retired are freed by the domain.
  ~HashMap() {
    Table* table = table_.load(std::memory_order_relaxed);
    for (size_t b = 0; b <= table->mask; ++b) {
      for (Node* n = table->buckets()[b].load(std::memory_order_relaxed); n != nullptr;) {
        Node* next = n->next[table->link].load(std::memory_order_relaxed);
        delete n;
        n = next;
      }
    }
    Table::Destroy(table);
  }

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
    const int link = table->link;
    for (Node* n = table->Bucket(hash).load(std::memory_order_acquire); n != nullptr;
         n = n->next[link].load(std::memory_order_acquire)) {
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
  // A copy of the value for `key`, read in a section of its own. Needs a copyable V.
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
           n = n->next[table->link].load(std::memory_order_acquire)) {
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
    Node* erased;
    {
      UpdateLock lock(StripeFor(hash));
      const Table& table = *table_.load(std::memory_order_relaxed);
      std::atomic<Node*>* link = FindLink(table, hash, key);
      erased = link->load(std::memory_order_relaxed);
      if (erased == nullptr) return false;
      link->store(erased->next[table.link].load(std::memory_order_relaxed),
                  std::memory_order_release);
      Unpublish(erased);
      size_.fetch_sub(1, std::memory_order_relaxed);
    }
    domain_.Retire(erased);  // outside the stripe: back-pressure may sleep here
    MaybeResize();
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
  // Updates lock one of kStripes stripes. A resize holds them all, so the count stays under
  // ThreadSanitizer's limit of 64 locks held by one thread.
  //
  // Invariant (the lock that guards a chain follows from the chain, as rhashtable's bucket locks
  // do): every table has a power-of-two number of buckets, at least kStripes, and a key lives in
  // bucket `hash & mask`. So all keys of one chain agree in their low log2(kStripes) hash bits,
  // and stripe `hash % kStripes` guards the whole chain, in every table the map ever has: two
  // updaters that could touch one chain always take the same stripe.
  static constexpr size_t kStripes = 32;

  // An element. Never copied or moved once linked: a resize relinks it. Each node carries two
  // links; a table threads its chains through one of them (Table::link), and a resize builds the
  // next table's chains through the other, so that readers still walking the old table find
  // their chains intact. The old table's link is reused by the resize after next, once a grace
  // period has passed since the old table was unpublished (relink_cookie_).
  struct Node {
    Node(size_t h, const K& k, V&& v) : hash(h), key(k), value(std::move(v)) {}
    // What a lookup reads comes first, so that it usually shares the node's first cache line.
    std::atomic<Node*> next[2] = {nullptr, nullptr};
    const size_t hash;
    const K key;
    const V value;
    // Set (under the stripe) when the node is unlinked: the lookup cache never hands it out
    // again, and never takes it in (MaybeCache).
    std::atomic<bool> removed{false};
  };

  struct Table {
    size_t mask;
    int link;  // which of Node::next threads this table's chains
    // The bucket array follows the header in the same allocation: one load less per lookup.
    std::atomic<Node*>* buckets() const {
      return reinterpret_cast<std::atomic<Node*>*>(const_cast<Table*>(this) + 1);
    }
    std::atomic<Node*>& Bucket(size_t hash) const { return buckets()[hash & mask]; }

    // Large bucket arrays go in transparent huge pages where the system allows it: every lookup
    // starts with a random access into the array, and a TLB miss doubles its cost.
    static constexpr size_t kHugePage = size_t{2} << 20;
    static size_t Bytes(size_t n) { return sizeof(Table) + n * sizeof(std::atomic<Node*>); }
    static size_t Alignment(size_t bytes) { return bytes >= kHugePage ? kHugePage : 64; }

    // A table of `n` empty buckets, or null when memory is short.
    static Table* Create(size_t n, int link) {
      const size_t bytes = Bytes(n);
      void* memory = ::operator new(bytes, std::align_val_t(Alignment(bytes)), std::nothrow);
      if (memory == nullptr) return nullptr;
      if (bytes >= kHugePage) madvise(memory, bytes & ~(kHugePage - 1), MADV_HUGEPAGE);
      auto* table = new (memory) Table{n - 1, link};
      for (size_t i = 0; i < n; ++i) new (&table->buckets()[i]) std::atomic<Node*>(nullptr);
      return table;
    }
    // Frees the bucket array (never the nodes: they move from table to table).
    static void Destroy(Table* table) {
      const size_t bytes = Bytes(table->mask + 1);
      table->~Table();
      ::operator delete(table, std::align_val_t(Alignment(bytes)));
    }
  };
  struct TableDeleter {
    void operator()(Table* table) const { Table::Destroy(table); }
  };

  struct alignas(64) Stripe {
    UpdateMutex mu;
  };

  UpdateMutex& StripeFor(size_t hash) const { return stripes_[hash % kStripes].mu; }
  // The bucket count, kept apart from the table so that no one dereferences a table outside a
  // stripe lock or a read-side section (a resize may retire it at any time).
  size_t BucketCount() const { return buckets_.load(std::memory_order_relaxed); }

  // The link (a bucket head or a node's next) that points to `key`'s node, or the null link at
  // the end of the chain. Requires: the key's stripe is held.
  std::atomic<Node*>* FindLink(const Table& table, size_t hash, const K& key) const {
    std::atomic<Node*>* link = &table.Bucket(hash);
    for (Node* n = link->load(std::memory_order_relaxed);
         n != nullptr && !(n->hash == hash && eq_(n->key, key));
         n = link->load(std::memory_order_relaxed)) {
      link = &n->next[table.link];
    }
    return link;
  }

  // Strong guarantee: the node (key and value constructors, user code) is built before any lock
  // is taken, and nothing under the stripe can throw but `eq_`, before anything changed.
  bool Upsert(const K& key, V value, bool assign) {
    const size_t hash = hasher_(key);
    std::unique_ptr<Node> fresh(new Node(hash, key, std::move(value)));
    Node* replaced;
    {
      UpdateLock lock(StripeFor(hash));
      const Table& table = *table_.load(std::memory_order_relaxed);
      std::atomic<Node*>* link = FindLink(table, hash, key);
      replaced = link->load(std::memory_order_relaxed);
      if (replaced != nullptr) {
        if (!assign) return false;  // `fresh` is destroyed after the stripe is released
        // Replace, never modify in place: readers see the old node or the new one, whole.
        fresh->next[table.link].store(replaced->next[table.link].load(std::memory_order_relaxed),
                                      std::memory_order_relaxed);
        Unpublish(replaced);
      } else {
        size_.fetch_add(1, std::memory_order_relaxed);  // appended: `fresh` links to null
      }
      link->store(fresh.release(), std::memory_order_release);  // publishes the node
    }
    // Outside the stripe: back-pressure may make these sleep, and a callback may need the stripe.
    if (replaced != nullptr) {
      domain_.Retire(replaced);
      return false;
    }
    MaybeResize();
    return true;
  }

  // A lookup found `n` by walking a chain: remember it if its cache slot is free. Slots are never
  // overwritten (removal frees them), so once warm the cache takes no writes: overwriting on
  // every miss thrashes it with cold keys and bounces its lines between cores. Under skew the
  // keys that arrive first, and so fill the slots, are the hot ones.
  //
  // The fill takes the node's stripe (try_lock: a lookup never waits), where `removed` is exact:
  // a node is cached only while it is linked, and its removal (under the same stripe) scrubs the
  // slot before it is retired. So a lookup that reads a node from the cache does so before the
  // scrub, in a section the node's grace period waits for: one grace period suffices, and the
  // node's free is an ordinary Retire() that Barrier() covers. (Without the lock, a lookup that
  // found the node just before its removal could put it back after the scrub, and lookups that
  // start after the grace period began could read it: the seed's bug hunt 2.)
  void MaybeCache(std::atomic<Node*>& slot, Node* n) const {
    if (slot.load(std::memory_order_relaxed) != nullptr) return;
    UpdateMutex& stripe = StripeFor(n->hash);
    // The thread may hold this stripe already when the lookup runs in a signal handler.
    if (stripe.HeldByCurrentThread() || !stripe.try_lock()) return;
    if (!n->removed.load(std::memory_order_relaxed)) {
      Node* expected = nullptr;
      slot.compare_exchange_strong(expected, n, std::memory_order_release,
                                   std::memory_order_relaxed);
    }
    stripe.unlock();
  }

  // `n` is being unlinked (its stripe is held): the cache stops handing it out.
  void Unpublish(Node* n) {
    n->removed.store(true, std::memory_order_release);
    if (cache_slots_ != 0) {
      Node* expected = n;
      cache_[n->hash >> cache_shift_].compare_exchange_strong(expected, nullptr,
                                                              std::memory_order_release,
                                                              std::memory_order_relaxed);
    }
  }

  // The bucket count that `size` elements call for, or `buckets` when the table fits: grow past
  // one element per bucket, shrink below one per 8 buckets, to a load of 1/2 to 1/4.
  size_t TargetBuckets(size_t size, size_t buckets) const {
    if (size > buckets) return std::bit_ceil(size);
    if (size * 8 < buckets && buckets > min_buckets_) {
      return std::max(min_buckets_, std::bit_ceil(size * 2));
    }
    return buckets;
  }

  // Resizes when the element count calls for it and the link the next table would use is free
  // (a grace period has passed since the previous resize; otherwise a later update does it).
  // Never copies or moves an element, never throws: without memory the table stays as it is.
  void MaybeResize() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const size_t buckets = BucketCount();
    const size_t target = TargetBuckets(size_.load(std::memory_order_relaxed), buckets);
    if (target == buckets || !domain_.PollState(relink_cookie_.load(std::memory_order_relaxed))) {
      return;
    }
    Table* fresh = Table::Create(target, /*link=*/0);
    if (fresh == nullptr) return;
    // Every stripe, in order: no update runs while the chains are rebuilt. Nothing in between
    // throws or runs user code.
    for (Stripe& s : stripes_) s.mu.lock();
    Table* old = table_.load(std::memory_order_relaxed);
    const bool go = old->mask + 1 == buckets &&
                    TargetBuckets(size_.load(std::memory_order_relaxed), buckets) == target &&
                    domain_.PollState(relink_cookie_.load(std::memory_order_relaxed));
    if (go) {
      fresh->link = 1 - old->link;
      for (size_t b = 0; b < buckets; ++b) {
        for (Node* n = old->buckets()[b].load(std::memory_order_relaxed); n != nullptr;
             n = n->next[old->link].load(std::memory_order_relaxed)) {
          std::atomic<Node*>& bucket = fresh->Bucket(n->hash);
          n->next[fresh->link].store(bucket.load(std::memory_order_relaxed),
                                     std::memory_order_relaxed);
          bucket.store(n, std::memory_order_relaxed);
        }
      }
      table_.store(fresh, std::memory_order_release);  // publishes the new chains
      buckets_.store(target, std::memory_order_relaxed);
      // Readers that may still walk `old`'s link began before this cookie.
      relink_cookie_.store(domain_.GetState(), std::memory_order_relaxed);
    }
    for (size_t i = kStripes; i-- > 0;) stripes_[i].mu.unlock();
    if (go) {
      domain_.template Retire<Table, TableDeleter>(old);  // its bucket array, not its nodes
    } else {
      Table::Destroy(fresh);
    }
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
  std::atomic<GracePeriodCookie> relink_cookie_{GracePeriodCookie()};
  mutable Stripe stripes_[kStripes];
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_HASH_MAP_H_
