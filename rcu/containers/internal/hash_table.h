// Not part of the public API; include "rcu/containers/hash_map.h".
//
// The table behind rcu::HashMap: chains of nodes hanging off a bucket array, updates under one of
// kStripes stripe locks, and the resize that relinks every node into a new bucket array while
// lookups go on. It knows nothing of the lookup cache: an update tells its caller (under the
// stripe, through `on_unlink`) which node it unlinks, and the caller retires what it returns.
//
// Stripes: the lock that guards a chain follows from the chain, as the kernel's rhashtable's
//   bucket locks do. Every bucket array has a power-of-two number of buckets, at least kStripes,
//   and a key lives in bucket `hash & mask`; so all keys of one chain agree in their low
//   log2(kStripes) hash bits, and stripe `hash % kStripes` guards the whole chain, in every
//   array the table ever has: two updaters that could touch one chain take the same stripe.
//   A resize holds them all, so the count stays under ThreadSanitizer's limit of 64 locks.
// Resize: never copies or moves an element. Each node carries two links; an array threads its
//   chains through one of them (BucketArray::link) and a resize builds the next array's chains
//   through the other, so readers still walking the old array find its chains intact. The old
//   array's link is reused by the resize after next, once a grace period has passed since the old
//   array was unpublished (relink_cookie_); a resize that comes sooner is left to a later update.
//   The old bucket array (never its nodes) is retired on the domain.
// Memory order: a node is published with a release store of the link that points to it, and
//   read with acquire loads: a lookup that finds it sees its key and value fully constructed.

#ifndef RCU_CONTAINERS_INTERNAL_HASH_TABLE_H_
#define RCU_CONTAINERS_INTERNAL_HASH_TABLE_H_

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "rcu/domain.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu::internal {

// An element. Never copied or moved once linked: a resize relinks it.
template <typename K, typename V>
struct HashNode {
  HashNode(size_t h, const K& k, V&& v) : hash(h), key(k), value(std::move(v)) {}
  // What a lookup reads comes first, so that it usually shares the node's first cache line.
  std::atomic<HashNode*> next[2] = {nullptr, nullptr};
  const size_t hash;
  const K key;
  const V value;
  // Set (under the stripe) when the node is unlinked; what the lookup cache checks
  // (lookup_cache.h).
  std::atomic<bool> removed{false};
};

// A bucket array: a header and the buckets, in one allocation (one load less per lookup).
template <typename Node>
struct BucketArray {
  size_t mask;
  int link;  // which of Node::next threads this array's chains

  std::atomic<Node*>* buckets() const {
    return reinterpret_cast<std::atomic<Node*>*>(const_cast<BucketArray*>(this) + 1);
  }
  std::atomic<Node*>& Bucket(size_t hash) const { return buckets()[hash & mask]; }

  // Large arrays go in transparent huge pages where the system allows it: every lookup starts
  // with a random access into the array, and a TLB miss doubles its cost.
  static constexpr size_t kHugePage = size_t{2} << 20;
  static size_t Bytes(size_t n) { return sizeof(BucketArray) + n * sizeof(std::atomic<Node*>); }
  static size_t Alignment(size_t bytes) { return bytes >= kHugePage ? kHugePage : 64; }

  // An array of `n` empty buckets, or null when memory is short.
  static BucketArray* Create(size_t n, int link) {
    const size_t bytes = Bytes(n);
    void* memory = ::operator new(bytes, std::align_val_t(Alignment(bytes)), std::nothrow);
    if (memory == nullptr) return nullptr;
    if (bytes >= kHugePage) madvise(memory, bytes & ~(kHugePage - 1), MADV_HUGEPAGE);
    auto* array = new (memory) BucketArray{n - 1, link};
    for (size_t i = 0; i < n; ++i) new (&array->buckets()[i]) std::atomic<Node*>(nullptr);
    return array;
  }
  // Frees the array (never the nodes: they move from array to array).
  static void Destroy(BucketArray* array) {
    const size_t bytes = Bytes(array->mask + 1);
    array->~BucketArray();
    ::operator delete(array, std::align_val_t(Alignment(bytes)));
  }
  struct Deleter {
    void operator()(BucketArray* array) const { Destroy(array); }
  };
};

template <typename K, typename V, typename Eq>
class HashTable {
 public:
  using Node = HashNode<K, V>;
  static constexpr size_t kStripes = 32;

  // `initial_buckets` is also the fewest the table shrinks to.
  HashTable(Domain& domain, size_t initial_buckets, const Eq& eq)
      : domain_(domain), min_buckets_(std::bit_ceil(std::max(initial_buckets, kStripes))), eq_(eq) {
    Array* array = Array::Create(min_buckets_, /*link=*/0);
    if (array == nullptr) throw std::bad_alloc();
    array_.store(array, std::memory_order_release);
    buckets_.store(min_buckets_, std::memory_order_relaxed);
  }
  HashTable(const HashTable&) = delete;
  HashTable& operator=(const HashTable&) = delete;

  // Frees every linked node and the array. Requires: no reader, no update.
  ~HashTable() {
    Array* array = array_.load(std::memory_order_relaxed);
    for (size_t b = 0; b <= array->mask; ++b) {
      for (Node* n = array->buckets()[b].load(std::memory_order_relaxed); n != nullptr;) {
        Node* next = n->next[array->link].load(std::memory_order_relaxed);
        delete n;
        n = next;
      }
    }
    Array::Destroy(array);
  }

  // The node of `key` (a K, or any type `Eq` compares with K), or null. Wait-free.
  // Requires: a read-side section of the domain.
  template <typename Q>
  Node* Find(size_t hash, const Q& key) const {
    const Array* array = array_.load(std::memory_order_acquire);
    const int link = array->link;
    for (Node* n = array->Bucket(hash).load(std::memory_order_acquire); n != nullptr;
         n = n->next[link].load(std::memory_order_acquire)) {
      if (n->hash == hash && eq_(n->key, key)) return n;
    }
    return nullptr;
  }

  // Calls fn(const Node&) for the nodes of one array. Requires: a read-side section.
  template <typename Fn>
  void ForEach(Fn fn) const {
    const Array* array = array_.load(std::memory_order_acquire);
    for (size_t b = 0; b <= array->mask; ++b) {
      for (Node* n = array->buckets()[b].load(std::memory_order_acquire); n != nullptr;
           n = n->next[array->link].load(std::memory_order_acquire)) {
        fn(static_cast<const Node&>(*n));
      }
    }
  }

  // Links `fresh` in place of the node with its key (if `assign`; otherwise a present key leaves
  // the table unchanged and `fresh` with the caller), or appends it. Returns the node it
  // unlinked (the caller retires it, outside every stripe), or null; sets `inserted`. Calls
  // on_unlink(node) under the stripe before the node leaves its chain. Nothing under the stripe
  // throws but `eq_`, before anything changed.
  template <typename OnUnlink>
  Node* Link(std::unique_ptr<Node>& fresh, bool assign, bool& inserted, OnUnlink on_unlink) {
    inserted = false;
    UpdateLock lock(StripeFor(fresh->hash));
    const Array& array = *array_.load(std::memory_order_relaxed);
    std::atomic<Node*>* link = FindLink(array, fresh->hash, fresh->key);
    Node* replaced = link->load(std::memory_order_relaxed);
    if (replaced != nullptr) {
      if (!assign) return nullptr;
      // Replace, never modify in place: readers see the old node or the new one, whole.
      fresh->next[array.link].store(replaced->next[array.link].load(std::memory_order_relaxed),
                                    std::memory_order_relaxed);
      on_unlink(replaced);
    } else {
      inserted = true;
      size_.fetch_add(1, std::memory_order_relaxed);  // appended: `fresh` links to null
    }
    link->store(fresh.release(), std::memory_order_release);  // publishes the node
    return replaced;
  }

  // Unlinks the node of `key` and returns it (the caller retires it), or null. Calls
  // on_unlink(node) under the stripe first.
  template <typename Q, typename OnUnlink>
  Node* Unlink(size_t hash, const Q& key, OnUnlink on_unlink) {
    UpdateLock lock(StripeFor(hash));
    const Array& array = *array_.load(std::memory_order_relaxed);
    std::atomic<Node*>* link = FindLink(array, hash, key);
    Node* erased = link->load(std::memory_order_relaxed);
    if (erased == nullptr) return nullptr;
    on_unlink(erased);
    link->store(erased->next[array.link].load(std::memory_order_relaxed),
                std::memory_order_release);
    size_.fetch_sub(1, std::memory_order_relaxed);
    return erased;
  }

  // Resizes when the element count calls for it and the link the next array would use is free.
  // Never copies or moves an element, never throws: without memory the table keeps its size.
  // Call it outside every stripe.
  void MaybeResize() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const size_t buckets = bucket_count();
    const size_t target = TargetBuckets(size(), buckets);
    if (target == buckets || !domain_.PollState(relink_cookie_.load(std::memory_order_relaxed))) {
      return;
    }
    Array* fresh = Array::Create(target, /*link=*/0);
    if (fresh == nullptr) return;
    // Every stripe, in order: no update runs while the chains are rebuilt. Nothing in between
    // throws or runs user code.
    for (Stripe& s : stripes_) s.mu.lock();
    Array* old = array_.load(std::memory_order_relaxed);
    const bool go = old->mask + 1 == buckets && TargetBuckets(size(), buckets) == target &&
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
      array_.store(fresh, std::memory_order_release);  // publishes the new chains
      buckets_.store(target, std::memory_order_relaxed);
      // Readers that may still walk `old`'s link began before this cookie.
      relink_cookie_.store(domain_.GetState(), std::memory_order_relaxed);
    }
    for (size_t i = kStripes; i-- > 0;) stripes_[i].mu.unlock();
    if (go) {
      domain_.template Retire<Array, typename Array::Deleter>(old);
    } else {
      Array::Destroy(fresh);
    }
  }

  // The lock that guards the chain of `hash`.
  UpdateMutex& StripeFor(size_t hash) const { return stripes_[hash % kStripes].mu; }

  // Exact when no update runs; a snapshot otherwise.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  // Kept apart from the array, so that no one dereferences an array outside a stripe or a
  // read-side section (a resize may retire it at any time).
  size_t bucket_count() const { return buckets_.load(std::memory_order_relaxed); }
  // The key equality (the lookup cache compares with it too).
  const Eq& key_eq() const { return eq_; }

 private:
  using Array = BucketArray<Node>;
  struct alignas(64) Stripe {
    UpdateMutex mu;
  };

  // The link (a bucket head or a node's next) that points to `key`'s node, or the null link at
  // the end of the chain. Requires: the key's stripe is held.
  template <typename Q>
  std::atomic<Node*>* FindLink(const Array& array, size_t hash, const Q& key) const {
    std::atomic<Node*>* link = &array.Bucket(hash);
    for (Node* n = link->load(std::memory_order_relaxed);
         n != nullptr && !(n->hash == hash && eq_(n->key, key));
         n = link->load(std::memory_order_relaxed)) {
      link = &n->next[array.link];
    }
    return link;
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

  Domain& domain_;
  const size_t min_buckets_;
  [[no_unique_address]] Eq eq_;
  alignas(64) std::atomic<Array*> array_{nullptr};
  std::atomic<size_t> buckets_{0};
  std::atomic<size_t> size_{0};
  std::atomic<GracePeriodCookie> relink_cookie_{GracePeriodCookie()};
  mutable Stripe stripes_[kStripes];
};

}  // namespace rcu::internal

#endif  // RCU_CONTAINERS_INTERNAL_HASH_TABLE_H_
