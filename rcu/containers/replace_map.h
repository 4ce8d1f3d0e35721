// -----------------------------------------------------------------------------
// File: replace_map.h
// -----------------------------------------------------------------------------
//
// `rcu::ReplaceMap<K, V>` is a map whose readers only ever see whole, const values, and whole
// versions of the map: "RCU updates by replacing, never in place" (the kernel's
// list_replace_rcu()). An update copies what it changes, modifies the copy and publishes a new
// version; readers keep the version they started with. Use it for configuration and feature-flag
// stores, small routing tables, anything where a reader must see several keys from one
// consistent state. For large maps with many per-key updates and no need for a multi-key
// snapshot, use rcu::HashMap, which replaces one entry at a time (readers still see whole
// values).
//
// An update copies one shard and the shards' directory: microseconds, growing slowly with the
// map (the benchmark report has the crossover with rcu::HashMap). So: ReplaceMap whenever readers
// need a multi-key snapshot, or updates are rare enough that a few microseconds each do not
// matter (Edit() applies any number of changes in one version); rcu::HashMap for update-heavy
// maps (no snapshot).
//
// Structure:    a published, immutable version: a directory of shards (a power of two of them,
//               about sqrt(8n) and at least 64 keys each; one for small maps), picked by the
//               key's hash. A shard is an immutable open-addressing table in one allocation
//               (tag bytes, then the entries), shared by every version that did not change it.
//               Values that are trivially copyable and at most 32 bytes live in the shard
//               itself; others live behind a `const V*`, and versions share them. An edit
//               records its changes per shard; the next version is the directory copied and
//               each changed shard rebuilt from the old one and the changes (every shard, when
//               the size calls for another shard count). The edit publishes it and retires the
//               old directory, the shards and the values it dropped.
// Read side:    `Find(guard, key)` returns a `const V*`; `Snapshot(guard)` returns the version
//               itself, so that several lookups see one state (M3: two Find() calls in one
//               section may see two versions). Both stay valid until the guard's outermost
//               section ends. Hash and Eq default as rcu::HashMap's do: for std::string keys
//               every Find() takes a std::string_view or a literal and builds no std::string.
// Update side:  Edit(fn) changes any number of keys in one new version; Insert, InsertOrAssign,
//               Update(key, fn) and Erase are one-key edits. All are serialized by the map's
//               lock. Update passes the current value to `fn` as const and publishes what it
//               returns (M1: no value is modified in place; M2: a reader sees the old value or
//               the new one, whole).
// Reclamation:  old versions and replaced values are retired on the map's domain.
// Progress:     reads wait-free; updates block on the map's lock and cost O(sqrt(n)) (O(n)
//               when the shard count changes: amortized over the updates that changed the size).
// Values:       any move-constructible V, move-only types included (values behind pointers are
//               shared between versions, never copied; inline values are copied with their
//               shard).
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

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "rcu/callback.h"
#include "rcu/containers/internal/key_traits.h"
#include "rcu/containers/internal/retire_batch.h"
#include "rcu/containers/internal/shard_table.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {

template <typename K, typename V, typename Hash = DefaultHash<K>, typename Eq = DefaultEq<K>>
class ReplaceMap {
  // Small trivially copyable values are stored in the shard (a lookup reads one line fewer);
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

  // A lookup's key: any type Eq compares with K when Hash and Eq are transparent (the default for
  // std::string keys: a literal or a std::string_view builds no string), else K.
  template <typename Q>
  using KeyArg = typename container_internal::KeyArg<
      container_internal::kTransparent<Hash, Eq>>::template type<Q, K>;
  template <typename Q>
  static size_t HashOf(const Q& key) {
    return Hash()(key);
  }

  static constexpr int kShardShift = 40;  // hash bits 40 and up pick the shard
  static constexpr size_t kMinShardKeys = 64;

  // How many shards a version of `n` keys has: a power of two, at least kMinShardKeys keys each,
  // and about sqrt(8n) (an update copies one shard, n / shards keys, and the directory, shards
  // pointers: the two costs meet there).
  static size_t ShardsFor(size_t n) {
    size_t shards = 1;
    while (2 * shards * kMinShardKeys <= n && 4 * shards * shards <= 8 * n &&
           2 * shards <= (size_t{1} << (64 - kShardShift))) {
      shards *= 2;
    }
    return shards;
  }

  // An edit's changes to one shard: each key it set, with its new slot, and each key it erased
  // (nullopt).
  using Changes = absl::flat_hash_map<K, std::optional<Slot>, Hash, Eq>;

  using Shard = container_internal::ShardTable<K, Slot, Hash, Eq>;

 public:
  // One immutable version of the map.
  class Version {
   public:
    // Version::Find()
    //
    // The value for `key` in this version, or null. For std::string keys (and any transparent
    // Hash and Eq), `key` may be a std::string_view or a literal: no string is built.
    template <typename Q = K>
    const V* Find(const KeyArg<Q>& key) const {
      const size_t hash = HashOf(key);
      const Slot* slot = shards()[Index(hash)]->Find(key, hash);
      return slot == nullptr ? nullptr : Address(*slot);
    }
    size_t size() const { return size_; }

    // Version::ForEach()
    //
    // Calls fn(const K&, const V&) for every entry of this version.
    template <typename Fn>
    void ForEach(Fn fn) const {
      for (size_t i = 0; i <= mask_; ++i) {
        shards()[i]->ForEachEntry(
            [&](const typename Shard::Entry& entry) { fn(entry.first, *Address(entry.second)); });
      }
    }

   private:
    friend class ReplaceMap;
    // A version with room for `shard_count` shard pointers after it (not set).
    static Version* Create(size_t shard_count) {
      void* memory = ::operator new(sizeof(Version) + shard_count * sizeof(Shard*));
      return new (memory) Version(shard_count);
    }
    // Frees the version, not its shards.
    static void Destroy(Version* v) {
      v->~Version();
      ::operator delete(v);
    }
    struct Deleter {
      void operator()(Version* v) const { Destroy(v); }
    };
    explicit Version(size_t shard_count) : mask_(shard_count - 1) {}

    size_t shard_count() const { return mask_ + 1; }
    size_t Index(size_t hash) const { return (hash >> kShardShift) & mask_; }
    Shard** shards() { return reinterpret_cast<Shard**>(this + 1); }
    Shard* const* shards() const { return reinterpret_cast<Shard* const*>(this + 1); }

    CallbackHead head_;  // retires this version and `dropped_` (not the values)
    const size_t mask_;  // shards - 1
    size_t size_ = 0;
    // Update side: the shards this version has and its successor does not (freed with it).
    std::vector<Shard*> dropped_;
    // The shard pointers follow the object (Create()).
  };
  static_assert(alignof(Version) >= alignof(Shard*));

  explicit ReplaceMap(Domain& domain = Domain::Default()) : domain_(domain) {
    std::unique_ptr<Version, typename Version::Deleter> v(Version::Create(1));
    v->shards()[0] = Shard::Build(0, [](auto&&) {});
    current_.store(v.release(), std::memory_order_relaxed);
  }
  ReplaceMap(const ReplaceMap&) = delete;
  ReplaceMap& operator=(const ReplaceMap&) = delete;

  // ReplaceMap::~ReplaceMap()
  //
  // Frees the current version and its values. Requires: no reader is inside a section that
  // reached the map.
  ~ReplaceMap() {
    Version* v = current_.load(std::memory_order_relaxed);
    for (size_t i = 0; i < v->shard_count(); ++i) {
      if constexpr (!kInline) {
        v->shards()[i]->ForEachEntry([](auto& entry) { delete entry.second; });
      }
      Shard::Destroy(v->shards()[i]);
    }
    Version::Destroy(v);
  }

  // ReplaceMap::Snapshot()
  //
  // The current version: every lookup in it sees the same state (M3).
  // Requires: `guard` holds a section of the map's domain (R1).
  // Invalidates: the reference when the guard's outermost section ends.
  const Version& Snapshot(const ReadGuard& guard, const internal::SourceLocation& where =
                                                      internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "ReplaceMap read", where);
    return *current_.load(std::memory_order_acquire);
  }

  // ReplaceMap::Find()
  //
  // The current value for `key`, or null. Two calls may see two versions; see Snapshot().
  template <typename Q = K>
  const V* Find(const ReadGuard& guard, const KeyArg<Q>& key,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    return Snapshot(guard, where).template Find<Q>(key);
  }

  // The next version, while an Edit() builds it.
  class Editor {
   public:
    // Editor::Find()
    //
    // The value for `key` in the version being built (edits so far included), or null.
    template <typename Q = K>
    const V* Find(const KeyArg<Q>& key) const {
      const Slot* slot = FindSlot(key, HashOf(key));
      return slot == nullptr ? nullptr : Address(*slot);
    }

    // Editor::Set()
    //
    // Maps `key` to `value` in the next version.
    void Set(const K& key, V value) {
      const size_t hash = HashOf(key);
      const Slot* before = FindSlot(key, hash);
      const bool present = before != nullptr;
      if constexpr (kInline) {
        ChangesOf(hash).insert_or_assign(key, value);
      } else {
        const V* old = present ? *before : nullptr;
        std::unique_ptr<const V> owned(new V(std::move(value)));
        Changes& changes = ChangesOf(hash);
        created_.insert(owned.get());
        changes.insert_or_assign(key, owned.release());
        if (present) Drop(old);
      }
      if (!present) ++size_;
      changed_ = true;
    }

    // Editor::Erase()
    //
    // Removes `key` from the next version; returns whether it was there.
    bool Erase(const K& key) {
      const size_t hash = HashOf(key);
      const Slot* before = FindSlot(key, hash);
      if (before == nullptr) return false;
      if constexpr (kInline) {
        ChangesOf(hash).insert_or_assign(key, std::nullopt);
      } else {
        const V* old = *before;
        ChangesOf(hash).insert_or_assign(key, std::nullopt);
        Drop(old);
      }
      --size_;
      changed_ = true;
      return true;
    }

    Editor(const Editor&) = delete;
    Editor& operator=(const Editor&) = delete;
    // An edit that did not publish (its function threw) frees the shards and values it created.
    ~Editor() {
      for (const V* value : created_) delete value;
      for (Shard* shard : built_) Shard::Destroy(shard);
    }

   private:
    friend class ReplaceMap;
    using Entry = typename Shard::Entry;
    Editor() = default;

    void Start(const Version& current) {
      current_ = &current;
      size_ = current.size_;
      changes_.resize(current.shard_count());
    }

    // `key`'s slot in the next version, or null.
    template <typename Q>
    const Slot* FindSlot(const Q& key, size_t hash) const {
      const size_t i = current_->Index(hash);
      if (const Changes* changes = changes_[i].get(); changes != nullptr) {
        if (auto it = changes->find(key); it != changes->end()) {
          return it->second.has_value() ? &*it->second : nullptr;
        }
      }
      return current_->shards()[i]->Find(key, hash);
    }

    // The changes to `hash`'s shard (of the published version), made on its first change.
    Changes& ChangesOf(size_t hash) {
      const size_t i = current_->Index(hash);
      if (changes_[i] == nullptr) {
        touched_.reserve(touched_.size() + 1);
        changes_[i] = std::make_unique<Changes>();
        touched_.push_back(i);
      }
      return *changes_[i];
    }

    // fn(key, slot) for each entry the next version has in shard `i` of the published one, and
    // (MostNext) at most how many there are.
    template <typename Fn>
    void ForEachNext(size_t i, Fn fn) const {
      const Changes* changes = changes_[i].get();
      current_->shards()[i]->ForEachEntry([&](const Entry& entry) {
        if (changes == nullptr || !changes->contains(entry.first)) fn(entry.first, entry.second);
      });
      if (changes == nullptr) return;
      for (const auto& [key, slot] : *changes) {
        if (slot.has_value()) fn(key, *slot);
      }
    }
    size_t MostNext(size_t i) const {
      return current_->shards()[i]->size() + (changes_[i] != nullptr ? changes_[i]->size() : 0);
    }

    // The next version: the published directory with the changed shards rebuilt, or, when the
    // size has left the range its shard count serves (a half of it, or a quarter), every shard
    // rebuilt for ShardsFor(size), so that an update keeps copying about sqrt(8n) keys. Sets
    // `replaced_`. Throws before publishing anything (built_ frees what it built).
    Version* Build() {
      const size_t now = current_->shard_count();
      size_t shards = ShardsFor(size_);
      if (shards < 2 * now && 4 * shards > now) shards = now;
      std::unique_ptr<Version, typename Version::Deleter> next(Version::Create(shards));
      next->size_ = size_;
      if (shards == now) {
        std::copy_n(current_->shards(), now, next->shards());
        built_.reserve(touched_.size());
        replaced_.reserve(touched_.size());
        for (size_t i : touched_) {
          built_.push_back(Shard::Build(MostNext(i), [&](auto fn) { ForEachNext(i, fn); }));
          next->shards()[i] = built_.back();
          replaced_.push_back(current_->shards()[i]);
        }
      } else {
        // The entries of each new shard, as pointers into the published shards and the changes.
        std::vector<std::vector<std::pair<const K*, const Slot*>>> entries(shards);
        for (size_t i = 0; i < now; ++i) {
          ForEachNext(i, [&](const K& key, const Slot& slot) {
            entries[next->Index(HashOf(key))].emplace_back(&key, &slot);
          });
        }
        built_.reserve(shards);
        for (size_t i = 0; i < shards; ++i) {
          built_.push_back(Shard::Build(entries[i].size(), [&](auto fn) {
            for (const auto& [key, slot] : entries[i]) fn(*key, *slot);
          }));
          next->shards()[i] = built_.back();
        }
        replaced_.assign(current_->shards(), current_->shards() + now);
      }
      return next.release();
    }

    // A value leaves the next version: one created in this edit was never visible and goes at
    // once; one from the published version is retired after its readers.
    void Drop(const V* value) {
      if (created_.erase(value) != 0) {
        delete value;
      } else {
        dropped_.push_back(value);
      }
    }

    const Version* current_ = nullptr;
    size_t size_ = 0;                                // of the next version
    std::vector<std::unique_ptr<Changes>> changes_;  // by shard of `current_`
    std::vector<size_t> touched_;                    // the shards changed, in order
    std::vector<Shard*> built_;              // shards this edit built (its own until published)
    std::vector<Shard*> replaced_;           // the published version's shards the next one dropped
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
    container_internal::RetireBatch<> retired(domain_, where);  // after the lock (R12)
    UpdateLock lock(mu_);
    Version* old = current_.load(std::memory_order_relaxed);
    editor.Start(*old);
    fn(editor);
    if (!editor.changed_) return;
    retired.Reserve(editor.dropped_.size() + 1);
    current_.store(editor.Build(), std::memory_order_release);
    // Published: the map owns what the edit created; the old version frees what it dropped.
    editor.created_.clear();
    editor.built_.clear();
    old->dropped_.swap(editor.replaced_);
    retired.Call(&old->head_, &RetireVersion);
    for (const V* value : editor.dropped_) retired.Retire(const_cast<V*>(value));  // M2
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
  static void RetireVersion(CallbackHead* head) {
    Version* v = ContainerOf(head, &Version::head_);
    for (Shard* shard : v->dropped_) Shard::Destroy(shard);
    Version::Destroy(v);
  }

  Domain& domain_;
  mutable UpdateMutex mu_;
  std::atomic<Version*> current_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_REPLACE_MAP_H_
