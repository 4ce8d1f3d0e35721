// -----------------------------------------------------------------------------
// File: prefix_map.h
// -----------------------------------------------------------------------------
//
// `rcu::PrefixMap<Address, V>` is a routing table: it maps prefixes (IPv4, IPv6, or any
// fixed-width bit string, address.h) to values and answers the question a router asks, the
// longest prefix that matches an address, without a lock and without ever blocking while routes
// change, as the kernel's RCU-protected fib_trie does. Use it for routing and forwarding tables,
// ACLs by source network, GeoIP-style range tables. For exact keys use rcu::HashMap.
//
// Read side:    `Lookup(guard, address)` returns the entry of the longest prefix that contains
//               `address` (a `const Entry*`, with `prefix` and `value`, or null); the batch
//               `Lookup(guard, addresses, out)` answers many with their walks interleaved;
//               `Find(guard, prefix)` the entry of exactly that prefix. Both stay valid until
//               the guard's outermost section ends (P2: do not keep them longer; copy the value).
// Consistency:  (P1) every update changes the table one slot at a time, and each slot goes from
//               a correct state to a correct state, so a lookup that runs while routes change:
//                 - returns only an entry that was in the map, matching the address, at some
//                   moment during the lookup;
//                 - never returns a shorter match, or none, when a longer matching prefix stayed
//                   in the map throughout: a covering route never vanishes, and no lookup falls
//                   back to it, while a more specific route is inserted, replaced or erased;
//                 - for a prefix whose value is replaced (InsertOrAssign), sees the old value or
//                   the new one, whole, never neither.
//               It is not a snapshot: two lookups in one section may see two states, and
//               Find() and Lookup() read different words of a node (an entry may show in
//               Find() a moment before Lookup() returns it, or after an erase a moment longer).
// Structure:    a multibit trie of stride 4 with controlled prefix expansion, as a hardware
//               FIB: a node has 16 slots, and each slot holds the longest prefix stored in the
//               node that covers it (a prefix of length 4d + 1 .. 4d + 4 is stored in a node at
//               depth d, in 8 .. 1 slots) and the child for its next 4 bits. A lookup reads one
//               16-byte slot per 4 bits of depth, keeping the last entry it saw: an IPv4 /24
//               route costs at most 6 slot reads, each one cache line. Each node also keeps its
//               shorter prefixes by position (14 of them: 2 of length 4d + 1, 4 of 4d + 2, 8 of
//               4d + 3), which Find(), ForEach() and the updater read (one of length 4d + 4 is
//               its slot's route: no longer prefix of the node can hide it); the default route
//               (length 0) has its own pointer.
// Update side:  Insert, InsertOrAssign and Erase are serialized by the map's lock. An update
//               builds its entry and any new nodes first, then publishes them with release
//               stores (a node is linked complete; an entry is written into its slots one by
//               one, each slot from one correct value to the next). Erase writes the next
//               shorter prefix of the node (or null, which means "whatever the parent said")
//               into the slots the erased prefix held, then unlinks nodes left empty. Values are
//               never modified in place: InsertOrAssign publishes a new entry.
// Reclamation:  replaced and erased entries, and unlinked nodes, are retired on the map's domain
//               after the lock is released (back-pressure, R12, never sleeps under it). The
//               destructor frees everything at once and requires that no reader is inside.
// Memory:       a node is 384 bytes (16 slots of 16 bytes, 14 own-prefix pointers); an entry
//               is its prefix and value: lookups read one cache line per level, at the price of
//               a few hundred bytes a prefix on Internet-shaped tables (the report has figures).
// Memory order: an entry's and a node's contents are written before the release store that
//               links them; lookups load slots with acquire ([P] below, at both ends).
// Progress:     Lookup and Find wait-free (Lookup reads at most Address::kBits / 4 slots);
//               updates block on the map's lock.
// Values:       any move-constructible V, move-only types included. Every update gives the
//               strong guarantee (allocation happens before anything is published).
// Misuse:       P1 by construction; P2 (documentation; ASan in the tests); P3 (a prefix longer
//               than the address, or negative: aborts, always); P4 (a batch Lookup() with fewer
//               results than addresses: aborts, always); R1 (a lookup needs a ReadGuard
//               of the map's domain: compile time for the token, debug check for the domain).
//
// Example:
//   rcu::PrefixMap<rcu::Ipv4Address, NextHop> fib;
//   fib.InsertOrAssign(*rcu::ParseIpv4Prefix("10.0.0.0/8"), NextHop{"eth0"});
//   fib.InsertOrAssign(*rcu::ParseIpv4Prefix("10.1.0.0/16"), NextHop{"eth1"});
//
//   std::string Route(rcu::Ipv4Address destination) {
//     rcu::ReadGuard guard;
//     const auto* route = fib.Lookup(guard, destination);
//     return route != nullptr ? route->value.device : "unreachable";
//   }

#ifndef RCU_CONTAINERS_PREFIX_MAP_H_
#define RCU_CONTAINERS_PREFIX_MAP_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "rcu/containers/address.h"
#include "rcu/containers/internal/retire_batch.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {

template <typename Address, typename V>
class PrefixMap {
 public:
  using Key = rcu::Prefix<Address>;
  struct Entry {
    Key prefix;
    V value;
  };

  explicit PrefixMap(Domain& domain = Domain::Default()) : domain_(domain) {}
  PrefixMap(const PrefixMap&) = delete;
  PrefixMap& operator=(const PrefixMap&) = delete;

  // PrefixMap::~PrefixMap()
  //
  // Frees every entry and node at once. Requires: no reader is inside a section that reached
  // the map, and no update runs.
  ~PrefixMap() {
    delete default_.load(std::memory_order_relaxed);
    FreeSubtree(&root_);
  }

  // PrefixMap::Lookup()
  //
  // The entry of the longest prefix containing `address`, or null. Wait-free.
  // Requires: `guard` holds a section of this map's domain (R1; checked in debug builds).
  const Entry* Lookup(
      const ReadGuard& guard, const Address& address,
      const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "PrefixMap::Lookup()", where);
    const Entry* best = default_.load(std::memory_order_acquire);  // [P] read side
    const Node* node = &root_;
    for (int depth = 0; node != nullptr && depth < kDepth; ++depth) {
      const Slot& slot = node->slots[address.Nibble(depth)];
      if (const Entry* e = slot.route.load(std::memory_order_acquire)) best = e;  // [P]
      node = slot.child.load(std::memory_order_acquire);                          // [P]
    }
    return best;
  }

  // PrefixMap::Lookup() (batch)
  //
  // out[i] = Lookup(guard, addresses[i]) for every i, with the walks interleaved: each round
  // advances up to kBatch walks by one level and prefetches the slots of their next level, so
  // their cache misses overlap instead of following one another (the idea of rte_lpm's and
  // rte_fib's bulk lookups). Use it where addresses come in bursts (a packet batch); one section
  // covers the whole batch. Wait-free.
  // Requires: out.size() >= addresses.size() (P4, checked in every build).
  static constexpr size_t kBatch = 16;
  void Lookup(const ReadGuard& guard, std::span<const Address> addresses,
              std::span<const Entry*> out,
              const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "PrefixMap::Lookup()", where);
    if (out.size() < addresses.size()) {
      internal::Die(where, "P4: a batch Lookup() of %zu addresses into %zu results",
                    addresses.size(), out.size());
    }
    const Entry* fallback = default_.load(std::memory_order_acquire);  // [P] read side
    for (size_t base = 0; base < addresses.size(); base += kBatch) {
      const size_t n = std::min(kBatch, addresses.size() - base);
      const Address* address = addresses.data() + base;
      const Entry** best = out.data() + base;
      std::array<const Node*, kBatch> node;
      for (size_t i = 0; i < n; ++i) {
        node[i] = &root_;
        best[i] = fallback;
      }
      for (int depth = 0; depth < kDepth; ++depth) {
        bool walking = false;
        for (size_t i = 0; i < n; ++i) {
          if (node[i] == nullptr) continue;
          const Slot& slot = node[i]->slots[address[i].Nibble(depth)];
          if (const Entry* e = slot.route.load(std::memory_order_acquire)) best[i] = e;  // [P]
          node[i] = slot.child.load(std::memory_order_acquire);                          // [P]
          if (node[i] != nullptr && depth + 1 < kDepth) {
            __builtin_prefetch(&node[i]->slots[address[i].Nibble(depth + 1)]);
            walking = true;
          }
        }
        if (!walking) break;
      }
    }
  }

  // PrefixMap::Find()
  //
  // The entry of exactly `prefix` (its host bits ignored), or null. Wait-free.
  const Entry* Find(
      const ReadGuard& guard, const Key& prefix,
      const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "PrefixMap::Find()", where);
    return Own(Normalized(prefix, where), std::memory_order_acquire);  // [P] read side
  }

  // PrefixMap::ForEach()
  //
  // Calls fn(const Entry&) for every entry, in no particular order. An entry present and not
  // replaced throughout the call is visited exactly once; others may or may not be.
  template <typename Fn>
  void ForEach(const ReadGuard& guard, Fn fn,
               const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "PrefixMap::ForEach()", where);
    if (const Entry* e = default_.load(std::memory_order_acquire)) fn(*e);  // [P] read side
    Visit(&root_, fn);
  }

  // PrefixMap::Insert()
  //
  // Maps `prefix` to `value` unless `prefix` is present. Returns whether it inserted.
  bool Insert(const Key& prefix, V value,
              const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    return Upsert(prefix, std::move(value), /*assign=*/false, where);
  }

  // PrefixMap::InsertOrAssign()
  //
  // Maps `prefix` to `value`, replacing the entry if present (readers see the old value or the
  // new one, P1). Returns whether it inserted.
  bool InsertOrAssign(const Key& prefix, V value,
                      const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    return Upsert(prefix, std::move(value), /*assign=*/true, where);
  }

  // PrefixMap::Erase()
  //
  // Removes `prefix`; lookups it covered fall back to the next shorter prefix. Returns whether
  // it was present.
  bool Erase(const Key& prefix,
             const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    const Key key = Normalized(prefix, where);
    RetireBatch retired(domain_, where);  // after the lock (R12)
    {
      UpdateLock lock(mu_);
      const Entry* old = Own(key, std::memory_order_relaxed);
      if (old == nullptr) return false;
      retired.Retire(const_cast<Entry*>(old));
      size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
      if (key.length == 0) {
        default_.store(nullptr, std::memory_order_release);
      } else {
        const int depth = (key.length - 1) / kStride;
        std::array<Node*, kDepth> path;
        path[0] = &root_;
        for (int d = 0; d < depth; ++d) {
          path[d + 1] = path[d]->slots[key.address.Nibble(d)].child.load(std::memory_order_relaxed);
        }
        Node* node = path[depth];
        if (HasOwn(key, depth)) {
          node->own[Position(key, depth)].store(nullptr, std::memory_order_release);
        }
        const Entry* cover = Covering(node, key, depth);
        const auto [first, count] = Span(key, depth);
        for (int s = first; s < first + count; ++s) {
          if (node->slots[s].route.load(std::memory_order_relaxed) == old) {
            node->slots[s].route.store(cover, std::memory_order_release);  // [P] update side
          }
        }
        --node->population;
        for (int d = depth; d > 0 && path[d]->population == 0; --d) {
          path[d - 1]->slots[key.address.Nibble(d - 1)].child.store(nullptr,
                                                                    std::memory_order_release);
          --path[d - 1]->population;
          retired.Retire(path[d]);
        }
      }
    }
    return true;
  }

  // PrefixMap::size()
  //
  // Prefixes in the map. Exact when no update runs.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  bool empty() const { return size() == 0; }

  Domain& domain() const { return domain_; }

 private:
  static constexpr int kStride = 4;
  static constexpr int kFanout = 1 << kStride;
  static constexpr int kDepth = Address::kBits / kStride;  // nodes on the longest path
  // What one update retires: an entry, and on an erase the nodes it emptied.
  using RetireBatch = container_internal::RetireBatch<kDepth + 1>;
  static_assert(Address::kBits % kStride == 0, "rcu::PrefixMap: addresses of whole nibbles");

  struct Node;
  // One 16-byte slot: a lookup reads both halves from one cache line.
  struct Slot {
    std::atomic<const Entry*> route{nullptr};  // the longest of the node's prefixes covering it
    std::atomic<Node*> child{nullptr};         // the node for the next 4 bits
  };
  static constexpr int kOwn = kFanout - 2;  // prefixes of 1 to kStride - 1 bits in a node
  struct alignas(sizeof(Slot)) Node {
    std::array<Slot, kFanout> slots;
    std::array<std::atomic<const Entry*>, kOwn> own{};  // by Position()
    int population = 0;  // prefixes stored here plus children (updater only)
  };

  // P3: the length is within the address; host bits are cleared.
  static Key Normalized(const Key& prefix, const internal::SourceLocation& where) {
    if (prefix.length < 0 || prefix.length > Address::kBits) {
      internal::Die(where, "P3: a prefix of length %d for an address of %d bits", prefix.length,
                    Address::kBits);
    }
    return Key(prefix.address, prefix.length);
  }

  // The slots of its node a prefix of `key.length` bits at `depth` covers.
  static std::pair<int, int> Span(const Key& key, int depth) {
    const int free_bits = kStride * (depth + 1) - key.length;  // 0 .. 3
    return {key.address.Nibble(depth) & ~((1 << free_bits) - 1), 1 << free_bits};
  }

  // Whether a prefix at `depth` is kept in its node's `own` (a full-stride one is its slot's
  // route instead).
  static bool HasOwn(const Key& key, int depth) { return key.length < kStride * (depth + 1); }
  // Where a prefix of `key.length` bits at `depth` is kept in its node's `own`.
  static int Position(const Key& key, int depth) {
    const int bits = key.length - kStride * depth;  // 1 .. kStride
    return (1 << bits) - 2 + (key.address.Nibble(depth) >> (kStride - bits));
  }

  // The entry of exactly `key`, or null: a walk down to its node.
  const Entry* Own(const Key& key, std::memory_order order) const {
    if (key.length == 0) return default_.load(order);
    const int depth = (key.length - 1) / kStride;
    const Node* node = &root_;
    for (int d = 0; node != nullptr && d < depth; ++d) {
      node = node->slots[key.address.Nibble(d)].child.load(order);
    }
    if (node == nullptr) return nullptr;
    if (HasOwn(key, depth)) return node->own[Position(key, depth)].load(order);
    const Entry* e = node->slots[key.address.Nibble(depth)].route.load(order);
    return e != nullptr && e->prefix.length == key.length ? e : nullptr;
  }

  // The longest prefix stored in `node` (at `depth`) that is shorter than `key` and covers it.
  static const Entry* Covering(const Node* node, const Key& key, int depth) {
    for (int length = key.length - 1; length > kStride * depth; --length) {
      const Entry* e =
          node->own[Position(Key(key.address, length), depth)].load(std::memory_order_relaxed);
      if (e != nullptr) return e;
    }
    return nullptr;
  }

  template <typename Fn>
  static void Visit(const Node* node, Fn& fn) {
    for (const auto& own : node->own) {
      if (const Entry* e = own.load(std::memory_order_acquire)) fn(*e);  // [P] read side
    }
    for (const Slot& slot : node->slots) {  // the full-stride prefixes
      const Entry* e = slot.route.load(std::memory_order_acquire);
      if (e != nullptr && e->prefix.length % kStride == 0) fn(*e);
    }
    for (const Slot& slot : node->slots) {
      if (const Node* child = slot.child.load(std::memory_order_acquire)) Visit(child, fn);
    }
  }

  bool Upsert(const Key& prefix, V value, bool assign, const internal::SourceLocation& where) {
    const Key key = Normalized(prefix, where);
    std::unique_ptr<Entry> fresh(new Entry{key, std::move(value)});  // user code: before the lock
    RetireBatch retired(domain_, where);                             // after the lock (R12)
    const Entry* old = nullptr;
    {
      UpdateLock lock(mu_);
      old = Own(key, std::memory_order_relaxed);
      if (old != nullptr && !assign) return false;
      const int depth = key.length == 0 ? 0 : (key.length - 1) / kStride;
      // Everything that can throw before anything is published (strong guarantee).
      std::array<std::unique_ptr<Node>, kDepth> made;
      Node* node = &root_;
      for (int d = 0; d < depth; ++d) {
        Node* child =
            node == nullptr
                ? nullptr
                : node->slots[key.address.Nibble(d)].child.load(std::memory_order_relaxed);
        if (child == nullptr) made[d].reset(new Node);
        node = child;
      }
      const Entry* entry = fresh.release();     // nothing below throws
      retired.Retire(const_cast<Entry*>(old));  // null is ignored
      if (old == nullptr) {
        size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      }
      if (key.length == 0) {
        default_.store(entry, std::memory_order_release);  // [P] update side
      } else {
        node = &root_;
        for (int d = 0; d < depth; ++d) {
          std::atomic<Node*>& link = node->slots[key.address.Nibble(d)].child;
          if (made[d] != nullptr) {
            link.store(made[d].release(), std::memory_order_release);  // [P] update side
            ++node->population;
          }
          node = link.load(std::memory_order_relaxed);
        }
        if (HasOwn(key, depth)) {
          node->own[Position(key, depth)].store(entry, std::memory_order_release);  // [P]
        }
        const auto [first, count] = Span(key, depth);
        for (int s = first; s < first + count; ++s) {
          const Entry* current = node->slots[s].route.load(std::memory_order_relaxed);
          // Slots a longer prefix of this node holds keep it.
          if (current == nullptr || current->prefix.length <= key.length) {
            node->slots[s].route.store(entry, std::memory_order_release);  // [P] update side
          }
        }
        if (old == nullptr) ++node->population;
      }
    }
    return old == nullptr;
  }

  // Deletes the entries under `node` and its descendants (not `node`, the root, itself).
  static void FreeSubtree(Node* node) {
    for (Slot& s : node->slots) {  // before `own`: slots may point to entries `own` holds
      const Entry* e = s.route.load(std::memory_order_relaxed);
      if (e != nullptr && e->prefix.length % kStride == 0) delete e;
    }
    for (auto& own : node->own) delete own.load(std::memory_order_relaxed);
    for (Slot& s : node->slots) {
      if (Node* child = s.child.load(std::memory_order_relaxed)) {
        FreeSubtree(child);
        delete child;
      }
    }
  }

  Domain& domain_;
  Node root_;
  std::atomic<const Entry*> default_{nullptr};  // the route of length 0
  std::atomic<size_t> size_{0};
  mutable UpdateMutex mu_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_PREFIX_MAP_H_
