// -----------------------------------------------------------------------------
// File: ordered_map.h
// -----------------------------------------------------------------------------
//
// `rcu::OrderedMap<K, V>` is a sorted map whose readers never lock and never block: point
// lookups (`Find`), the first key at or after a key (`LowerBound`), and forward range scans
// (`Between(guard, from, to)`, all keys in [from, to); `All(guard)`), as std::map or
// absl::btree_map offer them, while one updater at a time inserts, replaces and erases. Use it
// for ordered configuration, time-ordered indexes, name prefixes: wherever reads and scans
// dominate. For exact keys only, rcu::HashMap is faster.
//
// Read side:    Find returns a `const V*`; iterators give `std::pair<const K&, const V&>`. Both
//               stay valid until the guard's outermost section ends (O2: do not keep them
//               longer; copy). Iteration must stay inside the section that created the iterator
//               (O1: checked in debug builds on every step).
// Snapshots:    every read (one Find, one LowerBound, one range with all its steps) reads one
//               version of the map, complete: an iteration that runs while updates happen sees
//               exactly the keys of the version that was current when it began, each once, in
//               order; updates published meanwhile are not seen by it (they are by the next
//               read). Two reads in one section may see two versions.
// Structure:    a copy-on-write B+tree (internal/btree.h): nodes of about 512 bytes, never
//               modified once published (O3). An update copies the path from the root to the
//               leaf it changes and publishes the new root with one release store. A lookup reads
//               about log32(n) nodes, as in absl::btree_map; an update costs the copy of that
//               path, so use it where reads and scans dominate updates. Replaced nodes return to
//               the map's pool a grace period later and are reused (a burst of updates leaves
//               its nodes there until the map is destroyed).
// Values:       trivially copyable values of at most 16 bytes live in the leaves (and are copied
//               with them); other values live behind a pointer that leaf copies share, and a
//               replaced value is retired. Keys are copied into the nodes: K must be copyable and
//               default-constructible, and Compare a strict weak order. Any move-constructible
//               V, move-only types included. Every update gives the strong guarantee (it builds
//               everything before it publishes).
// Update side:  Insert, InsertOrAssign and Erase are serialized by the map's lock. Nothing is
//               retired under it (back-pressure, R12, never sleeps under the lock).
// Reclamation:  replaced values are retired on the map's domain, and replaced nodes go back to
//               the pool through a callback on it (Barrier() waits for both); the destructor
//               frees the current tree and the pool's spare nodes at once and requires that no
//               reader is inside.
// Memory order: a node is written completely before the release store of the root that
//               reaches it; readers load the root with acquire ([O] in internal/btree.h).
// Progress:     reads wait-free (a lookup reads one node per level); updates block on the lock.
// Misuse:       O1 (debug: "O1:" when an iterator steps outside the section that created it),
//               O2 (documentation; ASan in the tests), O3 by construction, R1 (every read takes
//               a ReadGuard of the map's domain).
//
// Example:
//   rcu::OrderedMap<int64_t, Event> events;  // by timestamp
//   events.Insert(now, Event{...});
//
//   int CountBetween(int64_t from, int64_t to) {
//     rcu::ReadGuard guard;
//     int n = 0;
//     for (const auto& [time, event] : events.Between(guard, from, to)) n += event.weight;
//     return n;
//   }

#ifndef RCU_CONTAINERS_ORDERED_MAP_H_
#define RCU_CONTAINERS_ORDERED_MAP_H_

#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>

#include "rcu/containers/internal/btree.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/version.h"

namespace rcu {

template <typename K, typename V, typename Compare = std::less<K>>
class OrderedMap {
  using Tree = container_internal::BTree<K, V, Compare>;
  using Stored = typename Tree::Stored;

 public:
  class Iterator;
  class View;

  explicit OrderedMap(Domain& domain = Domain::Default(), const Compare& compare = Compare())
      : domain_(domain), tree_(domain, compare) {}
  OrderedMap(const OrderedMap&) = delete;
  OrderedMap& operator=(const OrderedMap&) = delete;

  // OrderedMap::~OrderedMap()
  //
  // Frees every node and value at once. Requires: no reader is inside a section that reached
  // the map, and no update runs.
  ~OrderedMap() = default;

  // OrderedMap::Find()
  //
  // The value of `key`, or null. Wait-free.
  // Requires: `guard` holds a section of this map's domain (R1; checked in debug builds).
  const V* Find(const ReadGuard& guard, const K& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::Find()", where);
    const Stored* s = tree_.Find(key);
    return s == nullptr ? nullptr : &Tree::Value(*s);
  }

  bool Contains(const ReadGuard& guard, const K& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    return Find(guard, key, where) != nullptr;
  }

  // OrderedMap::Get()
  //
  // A copy of the value of `key`, read in a section of its own. Requires a copyable V.
  std::optional<V> Get(const K& key) const {
    ReadGuard guard(domain_);
    const V* v = Find(guard, key);
    return v == nullptr ? std::nullopt : std::optional<V>(*v);
  }

  // OrderedMap::LowerBound() / UpperBound()
  //
  // An iterator at the first key not less than (LowerBound) / greater than (UpperBound) `key`,
  // running to the end of the map; equal to `end()` if there is none.
  Iterator LowerBound(
      const ReadGuard& guard, const K& key,
      const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::LowerBound()", where);
    return Iterator(*this, &key, /*after=*/false, nullptr);
  }
  Iterator UpperBound(
      const ReadGuard& guard, const K& key,
      const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::UpperBound()", where);
    return Iterator(*this, &key, /*after=*/true, nullptr);
  }
  Iterator end() const { return Iterator(); }

  // OrderedMap::Between() / All()
  //
  // The keys in [from, to) / every key, in order, for a range-based for loop.
  View Between(const ReadGuard& guard, const K& from, const K& to,
               const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::Between()", where);
    return View(Iterator(*this, &from, /*after=*/false, &to));
  }
  View All(const ReadGuard& guard,
           const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::All()", where);
    return View(Iterator(*this, nullptr, /*after=*/false, nullptr));
  }

  // OrderedMap::Insert()
  //
  // Inserts `key` -> `value` unless `key` is present. Returns whether it inserted.
  bool Insert(const K& key, V value,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    return Upsert(key, std::move(value), /*assign=*/false, where);
  }

  // OrderedMap::InsertOrAssign()
  //
  // Maps `key` to `value`, replacing the old value (readers see the old value or the new one,
  // whole). Returns whether it inserted.
  bool InsertOrAssign(const K& key, V value,
                      const internal::SourceLocation& where = internal::SourceLocation::current()) {
    return Upsert(key, std::move(value), /*assign=*/true, where);
  }

  // OrderedMap::Erase()
  //
  // Removes `key`. Returns whether it was present.
  bool Erase(const K& key,
             const internal::SourceLocation& where = internal::SourceLocation::current()) {
    typename Tree::RetireBatch retired(domain_, where);  // retires after the tree's lock (R12)
    return tree_.Erase(key, retired).found;
  }

  // OrderedMap::size()
  //
  // Keys in the map. Exact when no update runs.
  size_t size() const { return tree_.size(); }
  bool empty() const { return size() == 0; }

  Domain& domain() const { return domain_; }

  // A forward iterator over one version of the map (see "Snapshots").
  class Iterator {
   public:
    using value_type = std::pair<const K&, const V&>;
    using reference = value_type;
    using iterator_category = std::input_iterator_tag;
    using difference_type = std::ptrdiff_t;

    Iterator() = default;

    reference operator*() const { return {key(), value()}; }
    const K& key() const { return cursor_.key(); }
    const V& value() const { return Tree::Value(cursor_.stored()); }

    Iterator& operator++() {
      if (internal::kDebugChecks && internal::CurrentSection(map_->domain_) != section_) {
        internal::Die(internal::SourceLocation::current(),
                      "O1: an OrderedMap iterator stepped outside the read-side section that "
                      "created it (after it ended, or in a later section or another thread: "
                      "its nodes may have been freed)");
      }
      cursor_.Next();
      return *this;
    }
    void operator++(int) { ++*this; }

    friend bool operator==(const Iterator& a, const Iterator& b) { return a.cursor_ == b.cursor_; }

   private:
    friend class OrderedMap;
    Iterator(const OrderedMap& map, const K* key, bool after, const K* bound)
        : map_(&map), cursor_(map.tree_, key, after, bound) {
      if (internal::kDebugChecks) section_ = internal::CurrentSection(map.domain_);
    }

    const OrderedMap* map_ = nullptr;
    typename Tree::Cursor cursor_;
    internal::SectionId section_;  // the section that created it (O1; debug builds)
  };

  class View {
   public:
    Iterator begin() const { return first_; }
    Iterator end() const { return Iterator(); }

   private:
    friend class OrderedMap;
    explicit View(Iterator first) : first_(std::move(first)) {}
    Iterator first_;
  };

 private:
  bool Upsert(const K& key, V value, bool assign, const internal::SourceLocation& where) {
    // User code (V's move) before the lock; a boxed value is owned here until published.
    std::unique_ptr<V> boxed;
    Stored stored;
    if constexpr (Tree::kInline) {
      stored = std::move(value);
    } else {
      boxed.reset(new V(std::move(value)));
      stored = boxed.get();
    }
    typename Tree::RetireBatch retired(domain_, where);  // retires after the tree's lock (R12)
    const typename Tree::Change c = tree_.Upsert(key, stored, assign, retired);
    if (c.changed) boxed.release();  // published: the tree holds it
    return !c.found;
  }

  Domain& domain_;
  Tree tree_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_ORDERED_MAP_H_
