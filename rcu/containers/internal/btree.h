// Not part of the public API; include "rcu/containers/ordered_map.h".
//
// The engine of rcu::OrderedMap: a copy-on-write B+tree and the pool its replaced nodes return
// to. Nodes are never modified once published; an update (under the tree's lock) copies the path
// from the root to the leaf it changes, and a sibling when nodes split, merge or rebalance,
// publishes the new root with one release store, and puts the nodes it replaced (back to the pool
// a grace period on) and the value it dropped in the caller's RetireBatch, which hands them to the
// domain once the lock is released. The facade (ordered_map.h) checks its rules.
//
// Values: trivially copyable values of at most 16 bytes are stored in the leaves (kInline);
// others as `const V*` that leaf copies share (the facade boxes and retires them).
// Memory order: a node is written completely before the release store of the root that reaches
// it; readers load the root with acquire, and nodes below it are immutable ([O], both ends).

#ifndef RCU_CONTAINERS_INTERNAL_BTREE_H_
#define RCU_CONTAINERS_INTERNAL_BTREE_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "rcu/callback.h"
#include "rcu/containers/internal/retire_batch.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu::container_internal {

template <typename K, typename V, typename Compare>
class BTree {
 public:
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
  // Replaced nodes come back to their map a grace period later (Recycled), instead of going to
  // malloc, where the callback thread's frees would contend for malloc's arena lock with the
  // updater's allocations. Queued nodes keep the pool alive after the map is destroyed: the last
  // of them frees it.
  struct Pool {
    std::atomic<int64_t> refs{1};                     // the map's, and one per queued node
    std::array<std::atomic<Node*>, 2> returned = {};  // [leaf]: pushed by Recycled
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

  explicit BTree(Domain& domain, const Compare& compare)
      : domain_(domain), less_(compare), pool_(new Pool), root_(FirstLeaf(pool_)) {}
  BTree(const BTree&) = delete;
  BTree& operator=(const BTree&) = delete;
  // Frees every node and value at once. Requires: no reader reaches the tree, no update runs.
  ~BTree() {
    FreeTree(root_.load(std::memory_order_relaxed));
    for (Node* spare : spare_) FreeList(spare);
    Release(pool_);
  }

  // The stored value of `key`, or null. Inside a read-side section.
  const Stored* Find(const K& key) const {
    const Node* node = root_.load(std::memory_order_acquire);  // [O] read side
    while (!node->leaf) {
      const Inner* inner = static_cast<const Inner*>(node);
      node = inner->children[ChildIndex(inner, key)];
    }
    const Leaf* leaf = static_cast<const Leaf*>(node);
    const int pos = LeafIndex(leaf, key);
    if (pos == leaf->count || less_(key, leaf->keys[pos])) return nullptr;
    return &leaf->values[pos];
  }

  // A position in one version of the tree: at the first key not less than (after: greater
  // than) *key, or the first key if null, up to (not including) *bound if not null. Inside a
  // read-side section; every step reads the version the cursor began in.
  class Cursor {
   public:
    Cursor() = default;
    Cursor(const BTree& tree, const K* key, bool after, const K* bound)
        : tree_(&tree), bounded_(bound != nullptr) {
      if (bound != nullptr) bound_ = *bound;
      const Node* node = tree.root_.load(std::memory_order_acquire);  // [O] read side
      while (!node->leaf) {
        const Inner* inner = static_cast<const Inner*>(node);
        const int i = key == nullptr ? 0 : tree.ChildIndex(inner, *key);
        path_[depth_++] = {inner, i};
        node = inner->children[i];
      }
      leaf_ = static_cast<const Leaf*>(node);
      pos_ = key == nullptr ? 0 : after ? tree.LeafUpper(leaf_, *key) : tree.LeafIndex(leaf_, *key);
      if (pos_ == leaf_->count) NextLeaf();
      CheckBound();
    }

    bool AtEnd() const { return leaf_ == nullptr; }
    const K& key() const { return leaf_->keys[pos_]; }
    const Stored& stored() const { return leaf_->values[pos_]; }
    void Next() {
      if (++pos_ == leaf_->count) NextLeaf();
      CheckBound();
    }
    friend bool operator==(const Cursor& a, const Cursor& b) {
      return a.leaf_ == b.leaf_ && (a.leaf_ == nullptr || a.pos_ == b.pos_);
    }

   private:
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
      if (leaf_ != nullptr && bounded_ && !tree_->less_(leaf_->keys[pos_], bound_)) {
        leaf_ = nullptr;
      }
    }

    const BTree* tree_ = nullptr;
    const Leaf* leaf_ = nullptr;  // null at the end
    int pos_ = 0;
    int depth_ = 0;
    std::array<std::pair<const Inner*, int>, kMaxDepth> path_;
    bool bounded_ = false;  // the range ends before bound_
    K bound_{};
  };

  // What an update did.
  struct Change {
    bool found = false;    // the key was present
    bool changed = false;  // a new version was published
  };
  // Room for what one update retires: the nodes it replaced and a boxed value.
  using RetireBatch = container_internal::RetireBatch<2 * kMaxDepth + 2>;

  // Maps `key` to `stored` (when absent, or when `assign`) / removes `key`. Take the tree's lock;
  // the replaced nodes and a replaced boxed value go to `retired` (R12: retired after the lock).
  Change Upsert(const K& key, const Stored& stored, bool assign, RetireBatch& retired)
      ABSL_LOCKS_EXCLUDED(mu_) {
    return Apply(key, &stored, assign, retired);
  }
  Change Erase(const K& key, RetireBatch& retired) ABSL_LOCKS_EXCLUDED(mu_) {
    return Apply(key, nullptr, false, retired);
  }

  size_t size() const { return size_.load(std::memory_order_relaxed); }

  // The value a stored value stands for.
  static const V& Value(const Stored& s) {
    if constexpr (kInline) {
      return s;
    } else {
      return *s;
    }
  }

 private:
  // Upsert (`stored` set) or Erase (null): the new leaf, the path above it copied, published.
  Change Apply(const K& key, const Stored* stored, bool assign, RetireBatch& retired)
      ABSL_LOCKS_EXCLUDED(mu_) {
    Change c;
    UpdateLock lock(mu_);
    std::array<Step, kMaxDepth> path;
    int depth = 0;
    const Leaf* leaf = Descend(key, path, depth);
    const int pos = LeafIndex(leaf, key);
    c.found = pos < leaf->count && !less_(key, leaf->keys[pos]);
    if (stored == nullptr ? !c.found : c.found && !assign) return c;
    Fresh fresh;
    LeafRun run;
    for (int i = 0; i < leaf->count; ++i) {
      if (i == pos && stored != nullptr) run.Add(key, *stored);
      if (!(c.found && i == pos)) run.Add(leaf->keys[i], leaf->values[i]);
    }
    if (pos == leaf->count && stored != nullptr) run.Add(key, *stored);
    Replaced replaced;
    replaced.push_back(leaf);
    Publish(Build(run, fresh), path, depth, fresh, replaced);
    c.changed = true;
    for (const Node* n : replaced) {  // back to the pool a grace period on
      pool_->refs.fetch_add(1, std::memory_order_relaxed);
      retired.Call(&const_cast<Node*>(n)->retired, &Recycled);
    }
    if constexpr (!kInline) {
      if (c.found) retired.Retire(const_cast<V*>(leaf->values[pos]));
    }
    const size_t size = size_.load(std::memory_order_relaxed);
    size_.store(stored == nullptr ? size - 1
                : c.found         ? size
                                  : size + 1,
                std::memory_order_relaxed);
    return c;
  }

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

  static void FreeNode(const Node* n) {
    if (n->leaf) {
      delete static_cast<const Leaf*>(n);
    } else {
      delete static_cast<const Inner*>(n);
    }
  }
  // A callback: `head`'s node back to its pool, a grace period after it was replaced.
  static void Recycled(CallbackHead* head) {
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

}  // namespace rcu::container_internal

#endif  // RCU_CONTAINERS_INTERNAL_BTREE_H_
