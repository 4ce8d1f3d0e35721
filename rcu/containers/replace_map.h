// -----------------------------------------------------------------------------
// File: replace_map.h
// -----------------------------------------------------------------------------
//
// `rcu::ReplaceMap<K, V>` is a map whose readers only ever see whole, const values, and whole
// versions of the map: "RCU updates by replacing, never in place" (the kernel's
// list_replace_rcu()). An update copies, modifies the copy and publishes it; readers keep the
// version they started with. Use it for configuration and feature-flag stores, small routing
// tables, anything where a reader must see several keys from one consistent state. Do not use it
// for large maps that change often: every update copies the map's table (O(n)). For large maps
// with per-key updates use rcu::HashMap, which replaces one entry at a time (readers still see
// whole values) but gives no multi-key snapshot.
//
// Where the crossover lies (//benchmarks:replace_map_benchmark, uint64_t keys, 16-byte values, one
// updater thread, on the machine of benchmarks/results/report.md):
//
//   keys in the map              100      1K      10K     100K
//   ReplaceMap one-key update    1.3 us   11 us   113 us  1.15 ms  (about 11 ns per key: a copy)
//   rcu::HashMap update          about 0.2 us at every size
//   flat map under a lock        about 0.02 us at every size
//
// An updater therefore manages about 9,000 one-key updates a second on 10K keys, 900 on 100K.
// Readers pay for updates too: each new version is a new table, cold in their caches. At 10K keys
// and one update a millisecond, lookups ran at 0.55x (1 reader) and 0.56x (2 readers) an
// unsynchronized absl::flat_hash_map of the same contents (0.72x and 0.70x with no updater: the
// read-side section and the load of the version), and 2.7x and 7.8x an absl::flat_hash_map under
// std::shared_mutex. So: ReplaceMap while updates stay below about a thousand a second per 10K
// keys, or whenever readers need a multi-key snapshot; Edit() applies any number of changes for
// the price of one copy. Beyond that, rcu::HashMap: per-key updates at any size, lookups at about
// the speed of a flat map, no snapshot.
//
// Structure:    a published, immutable version: an absl::flat_hash_map from key to value, read
//               like an unsynchronized one. Values that are trivially copyable and at most 32
//               bytes live in the table itself; others live behind a `const V*`, and versions
//               share them. An update builds the next version (the table copied, one entry
//               changed), publishes it, and retires the old table and the value it dropped.
// Read side:    `Find(guard, key)` returns a `const V*`; `Snapshot(guard)` returns the version
//               itself, so that several lookups see one state (M3: two Find() calls in one
//               section may see two versions). Both stay valid until the guard's outermost
//               section ends.
// Update side:  Edit(fn) changes any number of keys in one new version; Insert, InsertOrAssign,
//               Update(key, fn) and Erase are one-key edits. All are serialized by the map's
//               lock. Update passes the current value to `fn` as const and publishes what it
//               returns (M1: no value is modified in place; M2: a reader sees the old value or
//               the new one, whole).
// Reclamation:  old versions and replaced values are retired on the map's domain.
// Progress:     reads wait-free; updates block on the map's lock and cost O(n).
// Values:       any move-constructible V, move-only types included (values behind pointers are
//               shared between versions, never copied; inline values are copied with the table).
//               Every update gives the strong guarantee.
// Misuse:       M1 (values are const to readers: modifying one does not compile), M2 by
//               construction, M3 (the snapshot API; documented), M4 (an Edit() function that
//               updates its own map aborts in debug builds), R1.
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
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {

template <typename K, typename V>
class ReplaceMap {
  // Small trivially copyable values are stored in the table (a lookup reads one line fewer);
  // others sit behind a pointer that versions share.
  static constexpr bool kInline = std::is_trivially_copyable_v<V> && sizeof(V) <= 32;
  using Slot = std::conditional_t<kInline, V, const V*>;
  static const V* Address(const Slot& slot) {
    if constexpr (kInline) {
      return &slot;
    } else {
      return slot;
    }
  }

 public:
  // One immutable version of the map.
  class Version {
   public:
    // Version::Find()
    //
    // The value for `key` in this version, or null.
    const V* Find(const K& key) const {
      auto it = entries_.find(key);
      return it == entries_.end() ? nullptr : Address(it->second);
    }
    size_t size() const { return entries_.size(); }

    // Version::ForEach()
    //
    // Calls fn(const K&, const V&) for every entry of this version.
    template <typename Fn>
    void ForEach(Fn fn) const {
      for (const auto& [key, slot] : entries_) fn(key, *Address(slot));
    }

   private:
    friend class ReplaceMap;
    CallbackHead head_;  // retires this version's table (not its values)
    absl::flat_hash_map<K, Slot> entries_;
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
    if constexpr (!kInline) {
      for (auto& [key, value] : v->entries_) delete value;
    }
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
  const V* Find(const ReadGuard& guard, const K& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    return Snapshot(guard, where).Find(key);
  }

  // The next version, while an Edit() builds it.
  class Editor {
   public:
    // Editor::Find()
    //
    // The value for `key` in the version being built (edits so far included), or null.
    const V* Find(const K& key) const { return next_->Find(key); }

    // Editor::Set()
    //
    // Maps `key` to `value` in the next version.
    void Set(const K& key, V value) {
      if constexpr (kInline) {
        next_->entries_.insert_or_assign(key, value);
      } else {
        std::unique_ptr<const V> owned(new V(std::move(value)));
        created_.insert(owned.get());
        const V* fresh = owned.release();
        auto [it, inserted] = next_->entries_.try_emplace(key, fresh);
        if (!inserted) {
          Drop(it->second);
          it->second = fresh;
        }
      }
      changed_ = true;
    }

    // Editor::Erase()
    //
    // Removes `key` from the next version; returns whether it was there.
    bool Erase(const K& key) {
      auto it = next_->entries_.find(key);
      if (it == next_->entries_.end()) return false;
      if constexpr (!kInline) Drop(it->second);
      next_->entries_.erase(it);
      changed_ = true;
      return true;
    }

    Editor(const Editor&) = delete;
    Editor& operator=(const Editor&) = delete;
    // An edit that did not publish (its function threw) frees the values it created.
    ~Editor() {
      for (const V* value : created_) delete value;
    }

   private:
    friend class ReplaceMap;
    Editor() = default;

    // A value leaves the next version: one created in this edit was never visible and goes at
    // once; one from the published version is retired after its readers.
    void Drop(const V* value) {
      if (created_.erase(value) != 0) {
        delete value;
      } else {
        dropped_.push_back(value);
      }
    }

    std::unique_ptr<Version> next_;
    absl::flat_hash_set<const V*> created_;  // not published yet: this edit owns them
    std::vector<const V*> dropped_;
    bool changed_ = false;
  };

  // ReplaceMap::Edit()
  //
  // Runs fn(Editor&) on a copy of the current version and publishes the result as one version:
  // readers see all of fn's changes or none (M3). `fn` runs under the map's lock and must not
  // update the map (M4: aborts in debug builds; it would deadlock). Strong guarantee: if `fn`
  // (or a value's constructor) throws, nothing is published and the values the edit created are
  // destroyed. The old version and the values it dropped are retired after the lock is
  // released (so back-pressure never sleeps under it, and callbacks may update the map).
  // O(n + changes).
  template <typename Fn>
  void Edit(Fn fn, const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (internal::kDebugChecks && mu_.HeldByCurrentThread()) {
      internal::Die(where,
                    "M4: ReplaceMap updated from inside one of its own Edit() functions "
                    "(it would wait for its own lock)");
    }
    Editor editor;
    Version* old;
    {
      UpdateLock lock(mu_);
      old = current_.load(std::memory_order_relaxed);
      editor.next_ = std::make_unique<Version>();
      editor.next_->entries_ = old->entries_;  // inline values, or pointers the versions share
      fn(editor);
      if (!editor.changed_) return;
      current_.store(editor.next_.release(), std::memory_order_release);
      editor.created_.clear();  // published: the map owns them now
    }
    domain_.Call(&old->head_, &RetireVersion);
    for (const V* value : editor.dropped_) domain_.Retire(const_cast<V*>(value));  // M2
  }

  // ReplaceMap::Insert() / InsertOrAssign()
  //
  // Returns whether `key` was absent. Insert leaves a present key alone.
  bool Insert(const K& key, V value,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    bool absent = false;
    Edit(
        [&](Editor& e) {
          absent = e.Find(key) == nullptr;
          if (absent) e.Set(key, std::move(value));
        },
        where);
    return absent;
  }
  bool InsertOrAssign(const K& key, V value,
                      const internal::SourceLocation& where = internal::SourceLocation::current()) {
    bool absent = false;
    Edit(
        [&](Editor& e) {
          absent = e.Find(key) == nullptr;
          e.Set(key, std::move(value));
        },
        where);
    return absent;
  }

  // ReplaceMap::Update()
  //
  // If `key` is present, publishes `fn(const V& current)` as its new value (M1: the current
  // value is never modified) and returns true.
  template <typename Fn>
  bool Update(const K& key, Fn fn,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    bool present = false;
    Edit(
        [&](Editor& e) {
          const V* current = e.Find(key);
          present = current != nullptr;
          if (present) e.Set(key, fn(*current));
        },
        where);
    return present;
  }

  // ReplaceMap::Erase()
  //
  // Returns whether `key` was present.
  bool Erase(const K& key,
             const internal::SourceLocation& where = internal::SourceLocation::current()) {
    bool present = false;
    Edit([&](Editor& e) { present = e.Erase(key); }, where);
    return present;
  }

  // ReplaceMap::size()
  size_t size() const {
    ReadGuard guard(domain_);
    return Snapshot(guard).size();
  }

  Domain& domain() const { return domain_; }

 private:
  static void RetireVersion(CallbackHead* head) { delete ContainerOf(head, &Version::head_); }

  Domain& domain_;
  mutable UpdateMutex mu_;
  std::atomic<Version*> current_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_REPLACE_MAP_H_
