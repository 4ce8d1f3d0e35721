// -----------------------------------------------------------------------------
// File: replace_map.h
// -----------------------------------------------------------------------------
//
// `rcu::ReplaceMap<K, V>` is a map whose readers only ever see whole, const values, and whole
// versions of the map: "RCU updates by replacing, never in place" (the kernel's
// list_replace_rcu()). An update copies, modifies the copy and publishes it; readers keep the
// version they started with. Use it for configuration and feature-flag stores, small routing
// tables, anything where a reader must see several keys from one consistent state. Do not use it
// for large maps that change often: every update copies the map's table of pointers (O(n)
// pointers; values are shared between versions, not copied). For large maps with per-key
// updates use rcu::HashMap, which replaces one entry at a time (readers still see whole values)
// but gives no multi-key snapshot.
//
// Structure:    a published, immutable version: a hash table from key to `const V*`. An update
//               builds the next version (the table copied, one entry changed), publishes it, and
//               retires the old table and the value it dropped. Measured in
//               //benchmarks:replace_map_benchmark.
// Read side:    `Find(guard, key)` returns a `const V*`; `Snapshot(guard)` returns the version
//               itself, so that several lookups see one state (M3: two Find() calls in one
//               section may see two versions). Both stay valid until the guard's outermost
//               section ends.
// Update side:  Insert, InsertOrAssign, Update(key, fn) and Erase are serialized by the map's
//               lock. Update passes the current value to `fn` as const and publishes what it
//               returns (M1: no value is modified in place; M2: a reader sees the old value or
//               the new one, whole).
// Reclamation:  old versions and replaced values are retired on the map's domain.
// Progress:     reads wait-free; updates block on the map's lock and cost O(n).
// Misuse:       M1 (values are const to readers: modifying one does not compile), M2 by
//               construction, M3 (the snapshot API; documented), R1.
//
// Example:
//   rcu::ReplaceMap<std::string, Limits> limits;
//   limits.Update("api", [](const Limits& old) { Limits l = old; l.qps *= 2; return l; });
//
//   bool Allowed(const std::string& a, const std::string& b) {
//     rcu::ReadGuard guard;
//     const auto& version = limits.Snapshot(guard);   // a and b from the same state
//     return version.Find(a) != nullptr && version.Find(b) != nullptr;
//   }

#ifndef RCU_CONTAINERS_REPLACE_MAP_H_
#define RCU_CONTAINERS_REPLACE_MAP_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"

namespace rcu {

template <typename K, typename V>
class ReplaceMap {
 public:
  // One immutable version of the map.
  class Version {
   public:
    // Version::Find()
    //
    // The value for `key` in this version, or null.
    const V* Find(const K& key) const {
      auto it = entries_.find(key);
      return it == entries_.end() ? nullptr : it->second;
    }
    size_t size() const { return entries_.size(); }

    // Version::ForEach()
    //
    // Calls fn(const K&, const V&) for every entry of this version.
    template <typename Fn>
    void ForEach(Fn fn) const {
      for (const auto& [key, value] : entries_) fn(key, *value);
    }

   private:
    friend class ReplaceMap;
    CallbackHead head_;  // retires this version's table (not its values)
    absl::flat_hash_map<K, const V*> entries_;
  };

  explicit ReplaceMap(Domain& domain = Domain::Default())
      : domain_(domain), current_(new Version) {}
  ReplaceMap(const ReplaceMap&) = delete;
  ReplaceMap& operator=(const ReplaceMap&) = delete;

  // ReplaceMap::~ReplaceMap()
  //
  // Frees the current version and its values. Requires: no reader is inside a section that
  // reached the map.
  ~ReplaceMap() {
    Version* v = current_.load(std::memory_order_relaxed);
    for (auto& [key, value] : v->entries_) delete value;
    delete v;
  }

  // ReplaceMap::Snapshot()
  //
  // The current version: every lookup in it sees the same state (M3).
  // Requires: `guard` holds a section of the map's domain (R1).
  // Invalidates: the reference when the guard's outermost section ends.
  const Version& Snapshot(const ReadGuard& guard, const internal::SourceLocation& where =
                                                      internal::SourceLocation::current()) const {
    if (internal::kDebugChecks && &guard.domain() != &domain_) {
      internal::Die(where, "R1: ReplaceMap read with a ReadGuard of another domain");
    }
    return *current_.load(std::memory_order_acquire);
  }

  // ReplaceMap::Find()
  //
  // The current value for `key`, or null. Two calls may see two versions; see Snapshot().
  const V* Find(const ReadGuard& guard, const K& key, const internal::SourceLocation& where =
                                                          internal::SourceLocation::current()) const {
    return Snapshot(guard, where).Find(key);
  }

  // ReplaceMap::Insert() / InsertOrAssign()
  //
  // Returns whether `key` was absent. Insert leaves a present key alone.
  bool Insert(const K& key, V value) {
    return Change(key, [&](const V* old) -> const V* { return old ? old : new V(std::move(value)); });
  }
  bool InsertOrAssign(const K& key, V value) {
    return Change(key, [&](const V*) -> const V* { return new V(std::move(value)); });
  }

  // ReplaceMap::Update()
  //
  // If `key` is present, publishes `fn(const V& current)` as its new value and returns true.
  // `fn` runs under the map's lock and must not touch the map.
  template <typename Fn>
  bool Update(const K& key, Fn fn) {
    bool present = false;
    Change(key, [&](const V* old) -> const V* {
      present = old != nullptr;
      return present ? new V(fn(*old)) : nullptr;
    });
    return present;
  }

  // ReplaceMap::Erase()
  //
  // Returns whether `key` was present.
  bool Erase(const K& key) {
    bool present = false;
    Change(key, [&](const V* old) -> const V* {
      present = old != nullptr;
      return nullptr;
    });
    return present;
  }

  // ReplaceMap::size()
  size_t size() const {
    ReadGuard guard(domain_);
    return Snapshot(guard).size();
  }

  Domain& domain() const { return domain_; }

 private:
  // Publishes the version in which `key` maps to make(old value or null) (null: absent).
  // Returns whether `key` was absent before.
  template <typename Make>
  bool Change(const K& key, Make make) ABSL_LOCKS_EXCLUDED(mu_) {
    UpdateLock lock(mu_);
    Version* old = current_.load(std::memory_order_relaxed);
    auto it = old->entries_.find(key);
    const V* before = it == old->entries_.end() ? nullptr : it->second;
    const V* after = make(before);
    if (after == before) return before == nullptr;
    auto next = std::make_unique<Version>();
    next->entries_ = old->entries_;  // pointers only: values are shared between versions
    if (after == nullptr) {
      next->entries_.erase(key);
    } else {
      next->entries_.insert_or_assign(key, after);
    }
    current_.store(next.release(), std::memory_order_release);
    domain_.Call(&old->head_, &RetireVersion);
    if (before != nullptr) domain_.Retire(const_cast<V*>(before));  // M2: after its readers
    return before == nullptr;
  }

  static void RetireVersion(CallbackHead* head) { delete ContainerOf(head, &Version::head_); }

  Domain& domain_;
  mutable UpdateMutex mu_;
  std::atomic<Version*> current_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_REPLACE_MAP_H_
