// Not part of the public API; include "rcu/containers/hash_map.h".
//
// rcu::HashMap's lookup cache (HashMapOptions::lookup_cache): a small array of node pointers in
// front of the table, indexed by the top bits of the hash, so that a hot key skips the bucket
// array and the chain.
//
// Filling: a lookup that walked a chain fills the key's slot only if it is free, so a warm cache
//   takes no writes (overwriting on every miss thrashes it with cold keys and bounces its lines
//   between cores; under skew the keys that arrive first, and so fill the slots, are the hot ones).
// The free protocol (H1, the seed's bug hunt 2): a cached node must never be handed out once its
//   removal has begun. Removal (under the node's stripe) sets the node's `removed` flag and
//   scrubs its slot (Scrub()); a fill takes the same stripe (try_lock: a lookup never waits) and
//   fills only with a node that is not removed. So a node is cached only while it is linked, a
//   lookup reads it from the cache only before the scrub, in a section the node's grace period
//   waits for: one grace period suffices, and the node's free is an ordinary Retire(), which
//   Barrier() covers. (Without the lock, a lookup that found the node just before its removal
//   could put it back after the scrub, and lookups that start after the grace period began could
//   read it: the seed's bug.)
// H2: a slot is loaded once per lookup, and only that value is checked and returned.

#ifndef RCU_CONTAINERS_INTERNAL_LOOKUP_CACHE_H_
#define RCU_CONTAINERS_INTERNAL_LOOKUP_CACHE_H_

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>

#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu::internal {

template <typename Node>
class LookupCache {
 public:
  // `slots` rounded up to a power of two (at least 2); 0 turns the cache off.
  explicit LookupCache(size_t slots)
      : slots_(slots == 0 ? 0 : std::bit_ceil(std::max<size_t>(slots, 2))),
        shift_(slots_ == 0 ? 0 : 64 - std::countr_zero(slots_)),
        slots_array_(slots_ == 0 ? nullptr : new std::atomic<Node*>[slots_]()) {}

  bool enabled() const { return slots_ != 0; }

  // The slot of `hash`. Requires: enabled().
  std::atomic<Node*>& SlotFor(size_t hash) const { return slots_array_[hash >> shift_]; }

  // The node in `slot` if it holds `key` and is not removed, else null. Requires: a read-side
  // section of the map's domain.
  template <typename K, typename Eq>
  const Node* Lookup(const std::atomic<Node*>& slot, size_t hash, const K& key,
                     const Eq& eq) const {
    const Node* cached = slot.load(std::memory_order_acquire);  // loaded once (H2)
    if (cached != nullptr && cached->hash == hash && eq(cached->key, key) &&
        !cached->removed.load(std::memory_order_acquire)) {
      return cached;
    }
    return nullptr;
  }

  // A lookup found `n` by walking its chain, which `stripe` guards: cache it if its slot is free
  // and the stripe is free (see the file comment).
  void MaybeFill(std::atomic<Node*>& slot, Node* n, UpdateMutex& stripe) const {
    if (slot.load(std::memory_order_relaxed) != nullptr) return;
    // The thread may hold this stripe already when the lookup runs in a signal handler.
    if (stripe.HeldByCurrentThread() || !stripe.try_lock()) return;
    if (!n->removed.load(std::memory_order_relaxed)) {
      Node* expected = nullptr;
      slot.compare_exchange_strong(expected, n, std::memory_order_release,
                                   std::memory_order_relaxed);
    }
    stripe.unlock();
  }

  // `n` is being unlinked, under its stripe: no lookup gets it from the cache any more.
  void Scrub(Node* n) {
    n->removed.store(true, std::memory_order_release);
    if (!enabled()) return;
    Node* expected = n;
    SlotFor(n->hash).compare_exchange_strong(expected, nullptr, std::memory_order_release,
                                             std::memory_order_relaxed);
  }

 private:
  const size_t slots_;
  const int shift_;
  const std::unique_ptr<std::atomic<Node*>[]> slots_array_;
};

}  // namespace rcu::internal

#endif  // RCU_CONTAINERS_INTERNAL_LOOKUP_CACHE_H_
