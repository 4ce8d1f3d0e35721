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
//               removal has begun (H1, the seed's bug hunt 2), and one grace period covers every
//               lookup that read a node from it: the node's free is an ordinary Retire().
// Reclamation:  erased and replaced nodes, and old bucket arrays, are retired on the map's
//               domain: Barrier() returns after all of them are freed. The destructor frees the
//               elements at once and requires that no reader is inside.
// Memory order: a node is published with release order and read with acquire: a lookup that
//               finds it sees its key and value fully constructed.
// Progress:     Find/Contains wait-free; updates block on their stripe; a resize blocks updates
//               (never lookups) while it relinks.
// Inside:       the table, its stripes and its resize are internal/hash_table.h; the cache and
//               its free protocol internal/lookup_cache.h. This class checks R1, hashes once,
//               and retires what an update unlinked, outside every stripe.
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

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/hash/hash.h"
#include "rcu/containers/internal/hash_table.h"
#include "rcu/containers/internal/lookup_cache.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/refcount.h"
#include "rcu/version.h"

namespace rcu {

struct HashMapOptions {
  // Buckets of the first table (rounded up to a power of two, and at least 32: one per stripe),
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

// The default hash and equality. For std::string keys they are transparent (as Abseil's
// containers' defaults are): Find(), Contains(), Get(), FindRef() and Erase() take a
// std::string_view or a const char* and never build a std::string. absl::Hash gives a string and
// a string_view with the same contents the same hash. Any Hash and Eq that both declare
// `is_transparent` get the same heterogeneous lookup.
template <typename K>
struct DefaultHash : absl::Hash<K> {};
template <>
struct DefaultHash<std::string> {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return absl::Hash<std::string_view>()(key); }
};
template <typename K>
struct DefaultEq : std::equal_to<K> {};
template <>
struct DefaultEq<std::string> : std::equal_to<> {};

template <typename K, typename V, typename Hash = DefaultHash<K>, typename Eq = DefaultEq<K>>
class HashMap {
  using Table = internal::HashTable<K, V, Eq>;
  using Node = typename Table::Node;
  // Keys of another type than K that lookups accept: any, when Hash and Eq are transparent.
  template <typename Q>
  static constexpr bool kLookupKey = !std::is_same_v<std::remove_cvref_t<Q>, K> && requires {
    typename Hash::is_transparent;
    typename Eq::is_transparent;
  };

 public:
  explicit HashMap(Domain& domain = Domain::Default(), const HashMapOptions& options = {})
      : domain_(domain),
        cache_(options.lookup_cache ? options.cache_slots : 0),
        table_(domain, options.initial_buckets, Eq()) {}

  HashMap(const HashMap&) = delete;
  HashMap& operator=(const HashMap&) = delete;

  // HashMap::~HashMap()
  //
  // Frees every element at once. Requires: no reader is inside a section that reached the map,
  // and no update runs. Elements and tables already retired are freed by the domain.
  ~HashMap() = default;

  // HashMap::Find()
  //
  // The value for `key`, or null. Wait-free. With transparent Hash and Eq (the default for
  // std::string keys), `key` may be of any type Eq compares with K (a std::string_view).
  // Requires: `guard` holds a section of the map's domain (R1).
  // Invalidates: the result when the guard's outermost section ends.
  const V* Find(const ReadGuard& guard, const K& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    return FindAs(guard, key, where);
  }
  template <typename Q>
  requires kLookupKey<Q>
  const V* Find(const ReadGuard& guard, const Q& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    return FindAs(guard, key, where);
  }

  // HashMap::FindRef()
  //
  // For a map of counted references (V is rcu::Ref<T>, refcount.h): a handle to the value of
  // `key` that stays valid after the section ends, or an empty one when the key is absent or its
  // object is already dying. Requires: as Find().
  V FindRef(const ReadGuard& guard, const K& key,
            const internal::SourceLocation& where =
                internal::SourceLocation::current()) const requires internal::kIsRef<V> {
    return FindRefAs(guard, key, where);
  }
  template <typename Q>
  requires internal::kIsRef<V> && kLookupKey<Q> V
  FindRef(const ReadGuard& guard, const Q& key,
          const internal::SourceLocation& where = internal::SourceLocation::current())
  const { return FindRefAs(guard, key, where); }

  // HashMap::Contains()
  bool Contains(const ReadGuard& guard, const K& key) const { return Find(guard, key) != nullptr; }
  template <typename Q>
  requires kLookupKey<Q>
  bool Contains(const ReadGuard& guard, const Q& key) const { return Find(guard, key) != nullptr; }

  // HashMap::Get()
  //
  // A copy of the value for `key`, read in a section of its own. Needs a copyable V.
  std::optional<V> Get(const K& key) const { return GetAs(key); }
  template <typename Q>
  requires kLookupKey<Q> std::optional<V> Get(const Q& key)
  const { return GetAs(key); }

  // HashMap::ForEach()
  //
  // Calls fn(const K&, const V&) for the elements of one table. Elements inserted or erased
  // meanwhile may or may not be visited; none is visited twice. Not a snapshot across keys.
  template <typename Fn>
  void ForEach(const ReadGuard& guard, Fn fn,
               const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    CheckGuard(guard, "ForEach", where);
    table_.ForEach([&](const Node& n) { fn(n.key, n.value); });
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
  bool Erase(const K& key) { return EraseAs(key); }
  template <typename Q>
  requires kLookupKey<Q>
  bool Erase(const Q& key) { return EraseAs(key); }

  // HashMap::size() / bucket_count()
  //
  // Exact when no update runs; a snapshot otherwise.
  size_t size() const { return table_.size(); }
  bool empty() const { return size() == 0; }
  size_t bucket_count() const { return table_.bucket_count(); }

  Domain& domain() const { return domain_; }

 private:
  // R1: a read of this map needs a section of its domain (debug builds).
  void CheckGuard(const ReadGuard& guard, const char* what,
                  const internal::SourceLocation& where) const {
    if (internal::kDebugChecks && &guard.domain() != &domain_) {
      internal::Die(where, "R1: HashMap::%s() with a ReadGuard of another domain", what);
    }
  }

  template <typename Q>
  bool EraseAs(const Q& key) {
    Node* erased = table_.Unlink(hasher_(key), key, [this](Node* n) { cache_.Scrub(n); });
    if (erased == nullptr) return false;
    domain_.Retire(erased);  // outside the stripe: back-pressure may sleep here
    table_.MaybeResize();
    return true;
  }

  template <typename Q>
  std::optional<V> GetAs(const Q& key) const {
    ReadGuard guard(domain_);
    const V* v = FindAs(guard, key, internal::SourceLocation::current());
    return v == nullptr ? std::nullopt : std::optional<V>(*v);
  }

  template <typename Q>
  V FindRefAs(const ReadGuard& guard, const Q& key, const internal::SourceLocation& where) const {
    const V* v = FindAs(guard, key, where);
    return v == nullptr ? V() : V::TryFrom(guard, v->get(), where);
  }

  template <typename Q>
  const V* FindAs(const ReadGuard& guard, const Q& key,
                  const internal::SourceLocation& where) const {
    CheckGuard(guard, "Find", where);
    const size_t hash = hasher_(key);
    if (!cache_.enabled()) {
      const Node* n = table_.Find(hash, key);
      return n == nullptr ? nullptr : &n->value;
    }
    std::atomic<Node*>& slot = cache_.SlotFor(hash);
    if (const Node* cached = cache_.Lookup(slot, hash, key, table_.key_eq())) return &cached->value;
    Node* n = table_.Find(hash, key);
    if (n == nullptr) return nullptr;
    cache_.MaybeFill(slot, n, table_.StripeFor(hash));
    return &n->value;
  }

  // Strong guarantee: the node (key and value constructors, user code) is built before any lock
  // is taken; the table changes nothing before the only call under the stripe that can throw.
  bool Upsert(const K& key, V value, bool assign) {
    std::unique_ptr<Node> fresh(new Node(hasher_(key), key, std::move(value)));
    bool inserted;
    Node* replaced = table_.Link(fresh, assign, inserted, [this](Node* n) { cache_.Scrub(n); });
    // Outside the stripe: back-pressure may make these sleep, and a callback may need the stripe.
    if (replaced != nullptr) domain_.Retire(replaced);
    if (inserted) table_.MaybeResize();
    return inserted;
  }

  Domain& domain_;
  [[no_unique_address]] Hash hasher_;
  internal::LookupCache<Node> cache_;
  Table table_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_HASH_MAP_H_
