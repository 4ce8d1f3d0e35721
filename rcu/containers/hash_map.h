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
// Read side:    `Find(guard, key)` returns a `const V*` valid until the guard's outermost section
//               ends (H4; `Get(key)` copies instead, `FindRef` holds a Ref<T> past it). No lookup
//               misses a key present throughout it, resizes included (H3); none that begins after
//               Erase() returns finds the key, nor is handed an entry whose removal began before
//               it read the slot (H1); each lookup reads a slot once (H2). With transparent Hash
//               and Eq (the default for std::string keys) lookups take any comparable key type.
// Update side:  Insert, InsertOrAssign, Update, Upsert and Erase lock the key's stripe. A value is
//               never changed in place: an assignment builds a new entry and retires the old one,
//               so a reader sees one whole value. Retired slots are reused a grace period later.
//               Update/Upsert compute the new value from the old under the stripe: a
//               read-modify-write no other update of the key can come between (counters).
// Layout:       open addressing in groups of 7 slots behind a word of control bytes (Abseil's
//               SwissTable, with RCU-safe slot reuse): a lookup usually costs one random access.
//               Small trivially copyable entries live in the slots; others behind a pointer.
// Values:       any move-constructible V (Get() alone needs a copyable V). Every update gives the
//               strong guarantee; a resize never throws (without memory the table keeps its size,
//               and an insert that then finds no free slot throws std::bad_alloc). A capacity
//               over max_size() throws std::length_error.
// Reclamation:  erased and replaced entries and old arrays are retired on the map's domain,
//               outside every stripe (R12: back-pressure never sleeps under one, and callbacks may
//               update any map). The destructor frees the entries at once; no reader may be
//               inside.
// Progress:     Find/Contains wait-free (each group read at most once); updates block on their
//               stripe; a resize blocks updates (never lookups) while it copies.
// Inside:       the table (internal/hash_table.h, with the memory-order argument); this class
//               checks R1, hashes once, and retires what an update unlinked.
// Misuse:       H1-H3 by construction; H4 documented (ASan in the tests); H5 (an update of the
//               map from its own Update/Upsert function: debug check); R1 (compile time for the
//               guard, debug check for its domain). Reports name the caller's line.
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
#include "rcu/containers/internal/key_traits.h"
#include "rcu/containers/internal/retire_batch.h"
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
  // Ask for transparent huge pages (madvise MADV_HUGEPAGE) for slot arrays of 2 MiB or more, so
  // that a lookup's random access into a large map seldom misses the TLB. Turn it off where huge
  // pages cost more than they give (memory held by a map that shrinks, many mid-sized maps).
  bool huge_pages = true;
};

template <typename K, typename V, typename Hash = DefaultHash<K>, typename Eq = DefaultEq<K>>
class HashMap {
  using Table = container_internal::HashTable<K, V, Hash, Eq>;
  using Entry = typename Table::Entry;
  using RetireBatch = container_internal::RetireBatch<>;
  // A lookup's key: any type Eq compares with K when Hash and Eq are transparent, else K.
  template <typename Q>
  using KeyArg = typename container_internal::KeyArg<
      container_internal::kTransparent<Hash, Eq>>::template type<Q, K>;

 public:
  explicit HashMap(Domain& domain = Domain::Default(), const HashMapOptions& options = {})
      : domain_(domain),
        table_(domain, options.initial_capacity, Hash(), Eq(), options.huge_pages) {}

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
  template <typename Q = K>
  const V* Find(const ReadGuard& guard, const KeyArg<Q>& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "HashMap::Find()", where);
    const Entry* e = table_.Find(table_.hash_function()(key), key);
    return e == nullptr ? nullptr : &e->value;
  }

  // HashMap::FindRef()
  //
  // For a map of counted references (V is rcu::Ref<T>, refcount.h): a handle to the value of
  // `key` that stays valid after the section ends, or an empty one when the key is absent or its
  // object is already dying. Requires: as Find().
  template <typename Q = K>
  requires internal::kIsRef<V> V
  FindRef(const ReadGuard& guard, const KeyArg<Q>& key,
          const internal::SourceLocation& where = internal::SourceLocation::current())
  const {
    const V* v = Find<Q>(guard, key, where);
    return v == nullptr ? V() : V::TryFrom(guard, v->get(), where);
  }

  // HashMap::Contains()
  template <typename Q = K>
  bool Contains(const ReadGuard& guard, const KeyArg<Q>& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    return Find<Q>(guard, key, where) != nullptr;
  }

  // HashMap::Get()
  //
  // A copy of the value for `key`, read in a section of its own. Needs a copyable V.
  template <typename Q = K>
  std::optional<V> Get(const KeyArg<Q>& key) const {
    ReadGuard guard(domain_);
    const V* v = Find<Q>(guard, key);
    return v == nullptr ? std::nullopt : std::optional<V>(*v);
  }

  // HashMap::ForEach()
  //
  // Calls fn(const K&, const V&) for the elements of one table. A key present and not assigned
  // throughout the call is visited exactly once. A key inserted, erased or assigned meanwhile may
  // or may not be visited, and an assigned one may be visited twice (old and new value). Not a
  // snapshot across keys (see rcu::ReplaceMap).
  template <typename Fn>
  void ForEach(const ReadGuard& guard, Fn fn,
               const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "HashMap::ForEach()", where);
    table_.ForEach([&](const Entry& e) { fn(e.key, e.value); });
  }

  // HashMap::Insert()
  //
  // Inserts `key` -> `value` unless `key` is present. Returns whether it inserted. With a
  // transparent hash (std::string keys), `key` may be a std::string_view or a C string: the
  // entry's key is made from it (an update builds its entry first either way).
  template <typename Q = K>
  bool Insert(const KeyArg<Q>& key, V value,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    return Put(AsKey<Q>(key), std::move(value), /*assign=*/false, where);
  }

  // HashMap::InsertOrAssign()
  //
  // Inserts, or replaces the value of a present key (readers see the old or the new value,
  // whole). Returns whether it inserted. Heterogeneous keys as for Insert().
  template <typename Q = K>
  bool InsertOrAssign(const KeyArg<Q>& key, V value,
                      const internal::SourceLocation& where = internal::SourceLocation::current()) {
    return Put(AsKey<Q>(key), std::move(value), /*assign=*/true, where);
  }

  // HashMap::Update()
  //
  // Replaces the value of a present `key` by `fn(old)` (`fn` takes a `const V&` and returns the
  // new V), atomically with respect to the key's other updates: none comes between reading `old`
  // and publishing the result (libcuckoo's update_fn). Readers see the old or the new value,
  // whole. Returns whether the key was present. `fn` runs under the key's stripe lock: keep it
  // short, and do not update this map from it (H5: it would wait for its own stripe; aborts in
  // debug builds). What `fn` throws leaves the map unchanged.
  template <typename Fn>
  bool Update(const K& key, Fn fn,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    return Modify(key, fn, nullptr, where).present;
  }

  // HashMap::Upsert()
  //
  // As Update() when `key` is present; otherwise inserts `key` -> `init`. Returns whether it
  // inserted. The hot counter: `counts.Upsert(word, [](uint64_t n) { return n + 1; }, 1);`.
  template <typename Fn>
  bool Upsert(const K& key, Fn fn, V init,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    typename Table::Owned inserted = Make(key, std::move(init));  // user code: before the stripe
    return Modify(key, fn, &inserted, where).inserted;
  }

  // HashMap::Erase()
  //
  // Removes `key`. Returns whether it was present. After it returns, no lookup that begins
  // later finds the key.
  template <typename Q = K>
  bool Erase(const KeyArg<Q>& key,
             const internal::SourceLocation& where = internal::SourceLocation::current()) {
    CheckNotUpdating(where);
    RetireBatch retired(domain_, where);  // retires after the engine released the stripe (R12)
    return table_.Unlink(table_.hash_function()(key), key, retired).present;
  }

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
  // `key` as a K: itself, or a K made from a heterogeneous key.
  template <typename Q>
  static decltype(auto) AsKey(const KeyArg<Q>& key) {
    if constexpr (std::is_same_v<std::remove_cvref_t<KeyArg<Q>>, K>) {
      return (key);
    } else {
      return K(key);
    }
  }

  // Strong guarantee: the entry (key and value constructors, user code) is built before any lock
  // is taken; the table changes nothing before the only call under the stripe that can throw.
  bool Put(const K& key, V value, bool assign, const internal::SourceLocation& where) {
    CheckNotUpdating(where);
    const size_t hash = table_.hash_function()(key);
    typename Table::Owned fresh = Make(key, std::move(value));
    RetireBatch retired(domain_, where);  // retires after the engine released the stripe (R12)
    return table_.Link(hash, fresh, assign, retired).inserted;
  }

  // Update() and Upsert(): `fn` decides under the stripe; `inserted` (null for Update) is what an
  // absent key gets.
  template <typename Fn>
  typename Table::Result Modify(const K& key, Fn& fn, typename Table::Owned* inserted,
                                const internal::SourceLocation& where) {
    CheckNotUpdating(where);
    RetireBatch retired(domain_, where);  // retires after the engine released the stripe (R12)
    std::optional<typename Table::Owned> fresh;
    return table_.Link(table_.hash_function()(key), key, retired,
                       [&](const Entry* current) -> typename Table::Owned* {
                         if (current == nullptr) return inserted;
                         const UpdatingScope scope(this);
                         fresh.emplace(Make(key, fn(static_cast<const V&>(current->value))));
                         return &*fresh;
                       });
  }

  // H5: the map whose Update()/Upsert() function this thread runs (debug builds).
  static inline thread_local const HashMap* updating_ = nullptr;
  struct UpdatingScope {
    explicit UpdatingScope(const HashMap* map) {
      if constexpr (internal::kDebugChecks) updating_ = map;
    }
    ~UpdatingScope() {
      if constexpr (internal::kDebugChecks) updating_ = nullptr;
    }
  };
  void CheckNotUpdating(const internal::SourceLocation& where) const {
    if (internal::kDebugChecks && updating_ == this) {
      internal::Die(where,
                    "H5: HashMap updated from inside one of its own Update()/Upsert() functions "
                    "(it would wait for its own stripe)");
    }
  }

  static typename Table::Owned Make(const K& key, V&& value) {
    if constexpr (Table::kInline) {
      return Entry{key, std::move(value)};
    } else {
      return std::unique_ptr<Entry>(new Entry{key, std::move(value)});
    }
  }

  Domain& domain_;
  Table table_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_HASH_MAP_H_
