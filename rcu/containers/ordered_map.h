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
// Structure:    a copy-on-write B+tree: nodes of about 512 bytes (leaves hold keys and values
//               side by side in sorted arrays; inner nodes hold up to 32 children), never
//               modified once published (O3). An update copies the path from the root to the
//               leaf it changes (and a sibling, when nodes split, merge or rebalance) and
//               publishes the new root with one release store; the replaced nodes are retired.
//               A lookup reads about log32(n) nodes, as in absl::btree_map; an update costs
//               the copy of that path, so use it where reads and scans dominate updates.
// Node pool:    replaced nodes come back to the map a grace period later and are reused, not
//               freed (the callback thread's frees would contend with the updater's
//               allocations). A burst of updates leaves its nodes in the pool until the map is
//               destroyed.
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
//               reaches it; readers load the root with acquire, and nodes below it are
//               immutable ([O] below, at both ends).
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

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {

template <typename K, typename V, typename Compare = std::less<K>>
class OrderedMap {
  static constexpr bool kInline =
      std::is_trivially_copyable_v<V> && std::is_default_constructible_v<V> && sizeof(V) <= 16;
  using Stored = std::conditional_t<kInline, V, const V*>;
  static constexpr int kLeafCapacity = std::clamp<int>(512 / (sizeof(K) + sizeof(Stored)), 8, 64);
  static constexpr int kInnerCapacity = 32;  // children
  static constexpr int kMaxDepth = 24;       // levels; 8^23 keys would be needed to exceed it
  static constexpr int kPathNodes = 8;       // nodes an update usually replaces, inline

  struct Pool;
  struct Node {
    int count = 0;  // keys of a leaf, children of an inner node
    bool leaf;
    Pool* pool = nullptr;        // where it goes back a grace period after it is replaced
    CallbackHead retired;        // queued on the domain then
    Node* next_spare = nullptr;  // in the pool
  };
  // Replaced nodes come back to their map a grace period later (Recycle), instead of going to
  // malloc, where the callback thread's frees would contend for malloc's arena lock with the
  // updater's allocations. Queued nodes keep the pool alive after the map is destroyed: the last
  // of them frees it.
  struct Pool {
    std::atomic<int64_t> refs{1};                     // the map's, and one per queued node
    std::array<std::atomic<Node*>, 2> returned = {};  // [leaf]: pushed by Recycle
    ~Pool() {
      for (auto& r : returned) FreeList(r.load(std::memory_order_relaxed));
    }
  };
  // The published nodes an update replaced (retired after the lock is released): its leaf, and
  // per level above it at most the inner node and a sibling merged into it. A fixed array: no
  // allocation, and no union storage for g++'s -Wmaybe-uninitialized to misread at -O2.
  class Replaced {
   public:
    void push_back(const Node* n) { nodes_[count_++] = n; }
    const Node* const* begin() const { return nodes_.data(); }
    const Node* const* end() const { return nodes_.data() + count_; }

   private:
    std::array<const Node*, 2 * kMaxDepth + 1> nodes_{};
    int count_ = 0;
  };

  struct Leaf : Node {
    Leaf() { this->leaf = true; }
    std::array<K, kLeafCapacity> keys;
    std::array<Stored, kLeafCapacity> values;
  };
  struct Inner : Node {
    Inner() { this->leaf = false; }
    std::array<K, kInnerCapacity - 1> keys;  // keys[i]: the least key under children[i + 1]
    std::array<const Node*, kInnerCapacity> children;
  };

 public:
  class Iterator;
  class View;

  explicit OrderedMap(Domain& domain = Domain::Default(), const Compare& compare = Compare())
      : domain_(domain), less_(compare), pool_(new Pool), root_(FirstLeaf(pool_)) {}
  OrderedMap(const OrderedMap&) = delete;
  OrderedMap& operator=(const OrderedMap&) = delete;

  // OrderedMap::~OrderedMap()
  //
  // Frees every node and value at once. Requires: no reader is inside a section that reached
  // the map, and no update runs.
  ~OrderedMap() {
    FreeTree(root_.load(std::memory_order_relaxed));
    for (Node* spare : spare_) FreeList(spare);
    Release(pool_);
  }

  // OrderedMap::Find()
  //
  // The value of `key`, or null. Wait-free.
  // Requires: `guard` holds a section of this map's domain (R1; checked in debug builds).
  const V* Find(const ReadGuard& guard, const K& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::Find()", where);
    const Node* node = root_.load(std::memory_order_acquire);  // [O] read side
    while (!node->leaf) {
      const Inner* inner = static_cast<const Inner*>(node);
      node = inner->children[ChildIndex(inner, key)];
    }
    const Leaf* leaf = static_cast<const Leaf*>(node);
    const int pos = LeafIndex(leaf, key);
    if (pos == leaf->count || less_(key, leaf->keys[pos])) return nullptr;
    return &Value(leaf->values[pos]);
  }

  bool Contains(const ReadGuard& guard, const K& key) const { return Find(guard, key) != nullptr; }

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
    return Iterator(this, &key, /*after=*/false, nullptr);
  }
  Iterator UpperBound(
      const ReadGuard& guard, const K& key,
      const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::UpperBound()", where);
    return Iterator(this, &key, /*after=*/true, nullptr);
  }
  Iterator end() const { return Iterator(); }

  // OrderedMap::Between() / All()
  //
  // The keys in [from, to) / every key, in order, for a range-based for loop.
  View Between(const ReadGuard& guard, const K& from, const K& to,
               const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::Between()", where);
    return View(Iterator(this, &from, /*after=*/false, &to));
  }
  View All(const ReadGuard& guard,
           const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "OrderedMap::All()", where);
    return View(Iterator(this, nullptr, /*after=*/false, nullptr));
  }

  // OrderedMap::Insert()
  //
  // Inserts `key` -> `value` unless `key` is present. Returns whether it inserted.
  bool Insert(const K& key, V value,
              const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    return Upsert(key, std::move(value), /*assign=*/false, where);
  }

  // OrderedMap::InsertOrAssign()
  //
  // Maps `key` to `value`, replacing the old value (readers see the old value or the new one,
  // whole). Returns whether it inserted.
  bool InsertOrAssign(const K& key, V value,
                      const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    return Upsert(key, std::move(value), /*assign=*/true, where);
  }

  // OrderedMap::Erase()
  //
  // Removes `key`. Returns whether it was present.
  bool Erase(const K& key,
             const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    Replaced replaced;
    Stored old{};
    {
      UpdateLock lock(mu_);
      std::array<Step, kMaxDepth> path;
      int depth = 0;
      const Leaf* leaf = Descend(key, path, depth);
      const int pos = LeafIndex(leaf, key);
      if (pos == leaf->count || less_(key, leaf->keys[pos])) return false;
      old = leaf->values[pos];
      Fresh fresh;
      LeafRun run;
      for (int i = 0; i < leaf->count; ++i) {
        if (i != pos) run.Add(leaf->keys[i], leaf->values[i]);
      }
      replaced.push_back(leaf);
      Publish(Build(run, fresh), path, depth, fresh, replaced);
      size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }
    Retire(replaced, &old, where);  // outside the lock (R12)
    return true;
  }

  // OrderedMap::size()
  //
  // Keys in the map. Exact when no update runs.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
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

    reference operator*() const { return {leaf_->keys[pos_], Value(leaf_->values[pos_])}; }
    const K& key() const { return leaf_->keys[pos_]; }
    const V& value() const { return Value(leaf_->values[pos_]); }

    Iterator& operator++() {
      if (internal::kDebugChecks && internal::CurrentSection(map_->domain_) != section_) {
        internal::Die(internal::SourceLocation::current(),
                      "O1: an OrderedMap iterator stepped outside the read-side section that "
                      "created it (after it ended, or in a later section or another thread: "
                      "its nodes may have been freed)");
      }
      if (++pos_ == leaf_->count) NextLeaf();
      CheckBound();
      return *this;
    }
    void operator++(int) { ++*this; }

    friend bool operator==(const Iterator& a, const Iterator& b) {
      return a.leaf_ == b.leaf_ && (a.leaf_ == nullptr || a.pos_ == b.pos_);
    }

   private:
    friend class OrderedMap;

    // At the first key not less than (after: greater than) *key, or the first key if null.
    Iterator(const OrderedMap* map, const K* key, bool after, const K* bound)
        : map_(map), bounded_(bound != nullptr) {
      if (internal::kDebugChecks) section_ = internal::CurrentSection(map->domain_);
      if (bound != nullptr) bound_ = *bound;
      const Node* node = map->root_.load(std::memory_order_acquire);  // [O] read side
      while (!node->leaf) {
        const Inner* inner = static_cast<const Inner*>(node);
        const int i = key == nullptr ? 0 : map->ChildIndex(inner, *key);
        path_[depth_++] = {inner, i};
        node = inner->children[i];
      }
      leaf_ = static_cast<const Leaf*>(node);
      pos_ = key == nullptr ? 0 : after ? map->LeafUpper(leaf_, *key) : map->LeafIndex(leaf_, *key);
      if (pos_ == leaf_->count) NextLeaf();
      CheckBound();
    }

    // The first key of the next leaf, or the end.
    void NextLeaf() {
      while (depth_ > 0) {
        auto& [inner, index] = path_[depth_ - 1];
        if (++index < inner->count) {
          const Node* node = inner->children[index];
          while (!node->leaf) {
            path_[depth_++] = {static_cast<const Inner*>(node), 0};
            node = static_cast<const Inner*>(node)->children[0];
          }
          leaf_ = static_cast<const Leaf*>(node);
          pos_ = 0;
          return;  // only the root leaf is ever empty
        }
        --depth_;
      }
      leaf_ = nullptr;
    }

    void CheckBound() {
      if (leaf_ != nullptr && bounded_ && !map_->less_(leaf_->keys[pos_], bound_)) leaf_ = nullptr;
    }

    const OrderedMap* map_ = nullptr;
    const Leaf* leaf_ = nullptr;  // null at the end
    int pos_ = 0;
    int depth_ = 0;
    std::array<std::pair<const Inner*, int>, kMaxDepth> path_;
    bool bounded_ = false;         // Between(): the range ends before bound_
    internal::SectionId section_;  // the section that created it (O1; debug builds)
    K bound_{};
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
  // A run of leaf entries or of inner children (with the keys between them), assembled by an
  // update and cut into one node or, past a node's capacity, two.
  struct LeafRun {
    std::array<K, 2 * kLeafCapacity> keys;
    std::array<Stored, 2 * kLeafCapacity> values;
    int count = 0;
    void Add(const K& k, const Stored& v) {
      keys[count] = k;
      values[count++] = v;
    }
    void AddAll(const Leaf* leaf) {
      for (int i = 0; i < leaf->count; ++i) Add(leaf->keys[i], leaf->values[i]);
    }
  };
  struct InnerRun {
    std::array<K, 2 * kInnerCapacity> keys;
    std::array<const Node*, 2 * kInnerCapacity> children;
    int count = 0;  // children; keys has count - 1
    void AddKey(const K& k) { keys[count - 1] = k; }
    void AddChild(const Node* c) { children[count++] = c; }
    void AddAll(const Inner* inner) {
      for (int i = 0; i < inner->count; ++i) {
        if (i > 0) AddKey(inner->keys[i - 1]);
        AddChild(inner->children[i]);
      }
    }
  };
  // What replaces one node on the path: one or two fresh nodes (and the key between them).
  struct Built {
    Node* nodes[2] = {nullptr, nullptr};
    K separator{};
    int count = 0;
  };
  // Nodes an update made and has not published: freed if it throws.
  struct Fresh {
    absl::InlinedVector<Node*, 2 * kPathNodes> nodes;
    ~Fresh() {
      for (Node* n : nodes) FreeNode(n);
    }
    void Discard(Node* n) {
      nodes.erase(std::find(nodes.begin(), nodes.end(), n));
      FreeNode(n);
    }
  };

  static const V& Value(const Stored& s) {
    if constexpr (kInline) {
      return s;
    } else {
      return *s;
    }
  }

  // Integer keys in their natural order are searched with a linear count, which compilers
  // vectorize (as absl::btree_map does); others with a binary search.
  static constexpr bool kLinearSearch =
      std::is_arithmetic_v<K> && std::is_same_v<Compare, std::less<K>>;

  // How many of keys[0, n) are below `key` (or, with `or_equal`, not above it).
  int Rank(const K* keys, int n, const K& key, bool or_equal) const {
    if constexpr (kLinearSearch) {
      int rank = 0;
      if (or_equal) {
        for (int i = 0; i < n; ++i) rank += keys[i] <= key;
      } else {
        for (int i = 0; i < n; ++i) rank += keys[i] < key;
      }
      return rank;
    } else {
      const K* end = or_equal ? std::upper_bound(keys, keys + n, key, less_)
                              : std::lower_bound(keys, keys + n, key, less_);
      return static_cast<int>(end - keys);
    }
  }
  int ChildIndex(const Inner* inner, const K& key) const {
    return Rank(inner->keys.data(), inner->count - 1, key, /*or_equal=*/true);
  }
  int LeafIndex(const Leaf* leaf, const K& key) const {
    return Rank(leaf->keys.data(), leaf->count, key, /*or_equal=*/false);
  }
  int LeafUpper(const Leaf* leaf, const K& key) const {
    return Rank(leaf->keys.data(), leaf->count, key, /*or_equal=*/true);
  }

  Built Build(const LeafRun& run, Fresh& fresh) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto make = [&](int begin, int end) {
      Leaf* leaf = NewNode<Leaf>();
      fresh.nodes.push_back(leaf);
      std::copy(run.keys.begin() + begin, run.keys.begin() + end, leaf->keys.begin());
      std::copy(run.values.begin() + begin, run.values.begin() + end, leaf->values.begin());
      leaf->count = end - begin;
      return leaf;
    };
    return Cut(run, kLeafCapacity, make, [&](int cut) { return run.keys[cut]; });
  }
  Built Build(const InnerRun& run, Fresh& fresh) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto make = [&](int begin, int end) {
      Inner* inner = NewNode<Inner>();
      fresh.nodes.push_back(inner);
      std::copy(run.keys.begin() + begin, run.keys.begin() + end - 1, inner->keys.begin());
      std::copy(run.children.begin() + begin, run.children.begin() + end, inner->children.begin());
      inner->count = end - begin;
      return inner;
    };
    return Cut(run, kInnerCapacity, make, [&](int cut) { return run.keys[cut - 1]; });
  }
  // One node, or two halves when the run is over capacity.
  template <typename Run, typename Make, typename SeparatorAt>
  static Built Cut(const Run& run, int capacity, Make make, SeparatorAt separator_at) {
    Built b;
    const int cut = run.count <= capacity ? run.count : run.count / 2;
    b.nodes[b.count++] = make(0, cut);
    if (cut < run.count) {
      b.separator = separator_at(cut);
      b.nodes[b.count++] = make(cut, run.count);
    }
    return b;
  }

  // `inner`'s children with [first, last) replaced by `b`'s nodes.
  static InnerRun Splice(const Inner* inner, int first, int last, const Built& b) {
    InnerRun run;
    for (int i = 0; i < first; ++i) {
      if (i > 0) run.AddKey(inner->keys[i - 1]);
      run.AddChild(inner->children[i]);
    }
    for (int j = 0; j < b.count; ++j) {
      if (run.count > 0) run.AddKey(j == 0 ? inner->keys[first - 1] : b.separator);
      run.AddChild(b.nodes[j]);
    }
    for (int i = last; i < inner->count; ++i) {
      run.AddKey(inner->keys[i - 1]);
      run.AddChild(inner->children[i]);
    }
    return run;
  }

  static int Minimum(const Node* n) { return n->leaf ? kLeafCapacity / 4 : kInnerCapacity / 4; }

  struct Step {
    const Inner* inner;
    int index;
  };

  // The root-to-leaf path to `key`'s leaf.
  const Leaf* Descend(const K& key, std::array<Step, kMaxDepth>& path, int& depth) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const Node* node = root_.load(std::memory_order_relaxed);
    depth = 0;
    while (!node->leaf) {
      const Inner* inner = static_cast<const Inner*>(node);
      const int i = ChildIndex(inner, key);
      if (depth == kMaxDepth) {
        internal::Die(internal::SourceLocation::current(), "OrderedMap: deeper than %d levels",
                      kMaxDepth);
      }
      path[depth++] = {inner, i};
      node = inner->children[i];
    }
    return static_cast<const Leaf*>(node);
  }

  // Copies the path above `b` (which replaces the node under path[depth - 1]) and publishes the
  // new root; `replaced` collects the published nodes the new version no longer reaches. `b` may
  // hold one node below its minimum fill: it is merged with a sibling, or the two share their
  // entries evenly when they do not fit in one node.
  void Publish(Built b, const std::array<Step, kMaxDepth>& path, int depth, Fresh& fresh,
               Replaced& replaced) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int d = depth - 1; d >= 0; --d) {
      const auto [inner, index] = path[d];
      replaced.push_back(inner);
      int first = index, last = index + 1;
      if (b.count == 1 && b.nodes[0]->count < Minimum(b.nodes[0]) && inner->count > 1) {
        const int sibling = index + 1 < inner->count ? index + 1 : index - 1;
        first = std::min(index, sibling);
        last = first + 2;
        Node* under = b.nodes[0];
        const Node* left = first == index ? under : inner->children[first];
        const Node* right = first == index ? inner->children[first + 1] : under;
        replaced.push_back(inner->children[sibling]);
        if (under->leaf) {
          LeafRun run;
          run.AddAll(static_cast<const Leaf*>(left));
          run.AddAll(static_cast<const Leaf*>(right));
          b = Build(run, fresh);
        } else {
          InnerRun run;
          run.AddAll(static_cast<const Inner*>(left));
          const Inner* r = static_cast<const Inner*>(right);
          for (int i = 0; i < r->count; ++i) {
            run.AddKey(i == 0 ? inner->keys[first] : r->keys[i - 1]);
            run.AddChild(r->children[i]);
          }
          b = Build(run, fresh);
        }
        fresh.Discard(under);  // merged: never published
      }
      b = Build(Splice(inner, first, last, b), fresh);
    }
    const Node* root = b.nodes[0];
    if (b.count == 2) {  // the root split: one level more
      Inner* top = NewNode<Inner>();
      fresh.nodes.push_back(top);
      top->children[0] = b.nodes[0];
      top->children[1] = b.nodes[1];
      top->keys[0] = b.separator;
      top->count = 2;
      root = top;
    } else if (!root->leaf && root->count == 1) {  // a root with one child: one level less
      root = static_cast<const Inner*>(root)->children[0];
      fresh.Discard(b.nodes[0]);
    }
    fresh.nodes.clear();                           // published: the tree owns them now
    root_.store(root, std::memory_order_release);  // [O] update side
  }

  bool Upsert(const K& key, V value, bool assign, const internal::SourceLocation& where)
      ABSL_LOCKS_EXCLUDED(mu_) {
    // User code (V's move) before the lock; a pointer value is owned here until published.
    std::unique_ptr<V> boxed;
    Stored stored;
    if constexpr (kInline) {
      stored = std::move(value);
    } else {
      boxed.reset(new V(std::move(value)));
      stored = boxed.get();
    }
    Replaced replaced;
    Stored old{};
    bool inserted = false;
    {
      UpdateLock lock(mu_);
      std::array<Step, kMaxDepth> path;
      int depth = 0;
      const Leaf* leaf = Descend(key, path, depth);
      const int pos = LeafIndex(leaf, key);
      const bool found = pos < leaf->count && !less_(key, leaf->keys[pos]);
      if (found && !assign) return false;
      Fresh fresh;
      LeafRun run;
      for (int i = 0; i < leaf->count; ++i) {
        if (i == pos) run.Add(key, stored);
        if (!(found && i == pos)) run.Add(leaf->keys[i], leaf->values[i]);
      }
      if (pos == leaf->count) run.Add(key, stored);
      if (found) old = leaf->values[pos];
      replaced.push_back(leaf);
      Publish(Build(run, fresh), path, depth, fresh, replaced);
      boxed.release();
      inserted = !found;
      if (inserted)
        size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    Retire(replaced, inserted ? nullptr : &old, where);  // outside the lock (R12)
    return inserted;
  }

  void Retire(const Replaced& nodes, const Stored* value, const internal::SourceLocation& where) {
    for (const Node* n : nodes) RetireNode(n, where);
    if constexpr (!kInline) {
      if (value != nullptr) domain_.Retire(const_cast<V*>(*value), where);
    }
  }

  static void FreeNode(const Node* n) {
    if (n->leaf) {
      delete static_cast<const Leaf*>(n);
    } else {
      delete static_cast<const Inner*>(n);
    }
  }
  void RetireNode(const Node* n, const internal::SourceLocation& where) {
    pool_->refs.fetch_add(1, std::memory_order_relaxed);
    domain_.Call(&const_cast<Node*>(n)->retired, &Recycle, where);
  }

  // A callback: `head`'s node back to its pool, a grace period after it was replaced.
  static void Recycle(CallbackHead* head) {
    Node* n = ContainerOf(head, &Node::retired);
    Pool* pool = n->pool;
    std::atomic<Node*>& top = pool->returned[n->leaf];
    Node* next = top.load(std::memory_order_relaxed);
    do {
      n->next_spare = next;
    } while (
        !top.compare_exchange_weak(next, n, std::memory_order_release, std::memory_order_relaxed));
    Release(pool);
  }
  static void Release(Pool* pool) {
    if (pool->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete pool;
  }
  static void FreeList(Node* n) {
    while (n != nullptr) {
      Node* next = n->next_spare;
      FreeNode(n);
      n = next;
    }
  }
  static Leaf* FirstLeaf(Pool* pool) {
    Leaf* leaf = new Leaf;
    leaf->pool = pool;
    return leaf;
  }

  // A node from the pool (its old contents are overwritten by the caller), or a new one.
  // Called under mu_ only (from Build's lambdas, which the thread-safety analysis cannot follow).
  template <typename T>
  T* NewNode() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    constexpr bool kLeaf = std::is_same_v<T, Leaf>;
    Node*& spare = spare_[kLeaf];
    if (spare == nullptr)
      spare = pool_->returned[kLeaf].exchange(nullptr, std::memory_order_acquire);
    if (spare != nullptr) {
      Node* n = spare;
      spare = n->next_spare;
      return static_cast<T*>(n);
    }
    T* n = new T;
    n->pool = pool_;
    return n;
  }
  static void FreeTree(const Node* n) {
    if (n->leaf) {
      if constexpr (!kInline) {
        const Leaf* leaf = static_cast<const Leaf*>(n);
        for (int i = 0; i < leaf->count; ++i) delete leaf->values[i];
      }
    } else {
      const Inner* inner = static_cast<const Inner*>(n);
      for (int i = 0; i < inner->count; ++i) FreeTree(inner->children[i]);
    }
    FreeNode(n);
  }

  Domain& domain_;
  Compare less_;
  Pool* pool_;
  std::array<Node*, 2> spare_ = {};  // [leaf]: nodes taken from the pool, not yet reused
  std::atomic<const Node*> root_;    // never null: an empty map is an empty leaf
  std::atomic<size_t> size_{0};
  mutable UpdateMutex mu_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_ORDERED_MAP_H_
