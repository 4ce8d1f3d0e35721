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
//               (H3): it reads one array, complete, whichever it gets. No lookup that begins
//               after Erase() returns finds the key, and none hands out an entry whose removal
//               began before the lookup read its slot's control byte (H1); each lookup reads a
//               slot once (H2).
// Layout:       open addressing, as Abseil's SwissTable: groups of 7 slots behind a word of
//               control bytes, one or two cache lines each, so a lookup usually costs one random
//               access. When K and V are trivially copyable and together take at most 32 bytes,
//               entries live in the slots themselves (a uint64_t -> uint64_t map takes about 32
//               bytes a key at 1M keys, against 34 for an absl::flat_hash_map); otherwise a slot
//               points to an entry allocated on insert. There is no lookup cache in front of the
//               table (0.1.0 had one): on 1M string keys under Zipf(0.99) it made lookups slower
//               (0.79x read-only, 0.92x with 10% updates), as hot groups stay in the CPU caches.
// Update side:  Insert, InsertOrAssign and Erase lock the key's stripe (one of 32) and claim
//               free slots with a compare-and-swap. A value is never changed in place:
//               InsertOrAssign builds a new entry; a pointer slot swaps to it, an inline entry is
//               written into the earliest free slot of the key's probe (so a hot key keeps near
//               its home), and the old entry is retired, so a reader sees one whole value. A
//               retired slot is reused after a grace period (per stripe, in batches: no per-entry
//               memory waits for reclamation). When the empty slots run out, the updater that
//               took the last one takes every stripe, copies the live entries (inline entries, or
//               pointers) into a new array sized for 1.5x of them and retires the old array whole.
// Hot keys:     an inline entry cannot be swapped, so each assignment takes a free slot (a
//               compare-and-swap and two XORs on the group's control word) and the old one is
//               reused a grace period later; a hot key keeps within a few slots of its home
//               (at most 4 versions at once under Zipf(0.99) with 50% assignments), but with two
//               threads its group's line moves between the cores at each update. Under
//               Zipf(0.99) with 10% assignments, 2 threads, the map runs at 0.66x of xenium's
//               vyukov_hash_map, which stores values in place (uniform keys: 1.04x). Entries
//               behind a pointer are swapped in place and degrade less (README, Benchmarks).
// Values:       any V that is move-constructible, move-only types included (Get() alone needs
//               a copyable V). Exceptions: every update gives the strong guarantee: the entry is
//               built (K copied, V moved: user code) before a stripe is taken, and a throw from
//               the hash, the equality or a constructor leaves the map unchanged. A resize never
//               throws: without memory the table keeps its size (an insert that then finds no
//               free slot throws std::bad_alloc).
// Callbacks:    no stripe is held while an update queues a retirement, so back-pressure (R12)
//               never sleeps under a stripe, and callbacks may update any map.
// Reclamation:  erased and replaced entries (pointer slots) and old arrays are retired on the
//               map's domain: Barrier() returns after all of them are freed. The destructor frees
//               the entries at once and requires that no reader is inside.
// Memory order: a slot is written before its control byte is published with release order, and
//               lookups read control words with acquire: a lookup that finds an entry sees it
//               fully constructed (internal/hash_table.h has the argument).
// Progress:     Find/Contains wait-free (a lookup reads each group at most once); updates block on
//               their stripe; a resize blocks updates (never lookups) while it copies.
// Inside:       the table, its stripes, slot reuse and resize are internal/hash_table.h. This
//               class checks R1, hashes once, and retires what an update unlinked, outside every
//               stripe.
// Misuse:       H1, H2 and H3 by construction; H4 (documentation; ASan in the tests); R1 (Find
//               needs a ReadGuard of the map's domain: compile time for the token, debug check
//               for the domain).
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
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/refcount.h"
#include "rcu/version.h"

namespace rcu {

struct HashMapOptions {
  // Entries the first array holds without growing, and the fewest the map shrinks to. Set it to
  // the expected size to build a large map without resizes. The array grows when its empty slots
  // run out (at a load of 7/8) and shrinks when it is four times larger than its entries need.
  // Over HashMap::max_size() the constructor throws std::length_error (as std::vector::reserve
  // does); std::bad_alloc when the memory cannot be had.
  size_t initial_capacity = 16;
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
  using Table = internal::HashTable<K, V, Hash, Eq>;
  using Entry = typename Table::Entry;
  // Keys of another type than K that lookups accept: any, when Hash and Eq are transparent.
  template <typename Q>
  static constexpr bool kLookupKey = !std::is_same_v<std::remove_cvref_t<Q>, K> && requires {
    typename Hash::is_transparent;
    typename Eq::is_transparent;
  };

 public:
  explicit HashMap(Domain& domain = Domain::Default(), const HashMapOptions& options = {})
      : domain_(domain), table_(domain, options.initial_capacity, Hash(), Eq()) {}

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
  // Calls fn(const K&, const V&) for the elements of one table. A key present and not assigned
  // throughout the call is visited exactly once. A key inserted, erased or assigned meanwhile may
  // or may not be visited, and an assigned one may be visited twice (old and new value). Not a
  // snapshot across keys (see rcu::ReplaceMap).
  template <typename Fn>
  void ForEach(const ReadGuard& guard, Fn fn,
               const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    CheckGuard(guard, "ForEach", where);
    table_.ForEach([&](const Entry& e) { fn(e.key, e.value); });
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
  // later finds the key.
  bool Erase(const K& key) { return EraseAs(key); }
  template <typename Q>
  requires kLookupKey<Q>
  bool Erase(const Q& key) { return EraseAs(key); }

  // HashMap::size() / slot_count()
  //
  // Entries, and slots in the current array. Exact when no update runs; a snapshot otherwise.
  size_t size() const { return table_.size(); }
  bool empty() const { return size() == 0; }
  // The largest initial_capacity a map accepts (an array of slots that fits in a ptrdiff_t).
  static constexpr size_t max_size() { return Table::kMaxSize; }
  size_t slot_count() const { return table_.slot_count(); }

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
    const typename Table::Result r = table_.Unlink(table_.hash_function()(key), key);
    Retire(r.unlinked);  // outside the stripe: back-pressure may sleep here
    return r.present;
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
    const Entry* e = table_.Find(table_.hash_function()(key), key);
    return e == nullptr ? nullptr : &e->value;
  }

  // Strong guarantee: the entry (key and value constructors, user code) is built before any lock
  // is taken; the table changes nothing before the only call under the stripe that can throw.
  bool Upsert(const K& key, V value, bool assign) {
    const size_t hash = table_.hash_function()(key);
    typename Table::Owned fresh = Make(key, std::move(value));
    const typename Table::Result r = table_.Link(hash, fresh, assign);
    Retire(r.unlinked);  // outside the stripe: back-pressure may sleep here
    return r.inserted;
  }

  static typename Table::Owned Make(const K& key, V&& value) {
    if constexpr (Table::kInline) {
      return Entry{key, std::move(value)};
    } else {
      return std::unique_ptr<Entry>(new Entry{key, std::move(value)});
    }
  }

  // An entry an update unlinked (pointer slots only; inline slots are reused by the table).
  void Retire(Entry* unlinked) {
    if (unlinked != nullptr) domain_.Retire(unlinked);
  }

  Domain& domain_;
  Table table_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_HASH_MAP_H_
