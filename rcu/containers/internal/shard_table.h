// Not part of the public API; include "rcu/containers/replace_map.h".
//
// The engine of rcu::ReplaceMap's versions: one shard, an immutable open-addressing table built
// whole by the edit that changed it and shared by every later version that did not. Its entries
// are (key, slot) pairs, a slot being the value itself or a pointer to it (the facade decides).
// Hash and Eq are default-constructed where used; with transparent ones, lookups take any type
// Eq compares with K.

#ifndef RCU_CONTAINERS_INTERNAL_SHARD_TABLE_H_
#define RCU_CONTAINERS_INTERNAL_SHARD_TABLE_H_

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include "rcu/version.h"

namespace rcu::container_internal {

// One shard of a version: an immutable open-addressing table in one allocation (its header,
// a tag byte per slot, then the entries), built whole by the edit that changed it and shared
// by the versions after it that did not. A lookup reads the header and the tags (one line for
// a shard of up to about 48 slots' tags) and then the entry: no more dependent loads than an
// absl::flat_hash_map held in the version, although versions share shards. Tags: 0 empty,
// else 0x80 and hash bits 57 to 63; linear probing, at most half full.
template <typename K, typename Slot, typename Hash, typename Eq>
class ShardTable {
 public:
  using Entry = std::pair<const K, Slot>;

  // A shard holding the entries that for_each(fn) passes to fn(const K&, const Slot&), at
  // most `most` of them, each key once. Throws (std::bad_alloc, or what copying a key throws)
  // and leaks nothing.
  template <typename ForEach>
  static ShardTable* Build(size_t most, ForEach for_each) {
    const size_t capacity = std::bit_ceil(std::max<size_t>(8, 2 * most));
    void* memory = ::operator new(EntriesOffset(capacity) + capacity * sizeof(Entry),
                                  std::align_val_t(kAlign));
    ShardTable* shard = new (memory) ShardTable(capacity - 1);
    std::memset(shard->tags(), 0, capacity);
    try {
      for_each([shard](const K& key, const Slot& slot) {
        const size_t hash = Hash()(key);
        size_t i = hash & shard->mask_;
        while (shard->tags()[i] != 0) i = (i + 1) & shard->mask_;
        new (&shard->entries()[i]) Entry(key, slot);
        shard->tags()[i] = Tag(hash);
        ++shard->size_;
      });
    } catch (...) {
      Destroy(shard);
      throw;
    }
    return shard;
  }
  // Destroys the entries (not what pointer slots point to) and frees the shard.
  static void Destroy(ShardTable* shard) {
    for (size_t i = 0; i <= shard->mask_; ++i) {
      if (shard->tags()[i] != 0) shard->entries()[i].~Entry();
    }
    shard->~ShardTable();
    ::operator delete(shard, std::align_val_t(kAlign));
  }

  // The slot of `key` (of any type Eq compares with K), whose hash is `hash`, or null.
  template <typename Q>
  const Slot* Find(const Q& key, size_t hash) const {
    const uint8_t tag = Tag(hash);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const uint8_t t = tags()[i];
      if (t == 0) return nullptr;
      if (t == tag && Eq()(entries()[i].first, key)) return &entries()[i].second;
    }
  }
  // fn(const Entry&) for every entry.
  template <typename Fn>
  void ForEachEntry(Fn fn) const {
    for (size_t i = 0; i <= mask_; ++i) {
      if (tags()[i] != 0) fn(entries()[i]);
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kAlign = std::max(alignof(Entry), alignof(size_t));
  static uint8_t Tag(size_t hash) { return static_cast<uint8_t>(0x80 | (hash >> 57)); }
  static size_t EntriesOffset(size_t capacity) {
    return (sizeof(ShardTable) + capacity + kAlign - 1) / kAlign * kAlign;
  }
  explicit ShardTable(size_t mask) : mask_(mask) {}

  uint8_t* tags() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* tags() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  Entry* entries() {
    return std::launder(
        reinterpret_cast<Entry*>(reinterpret_cast<char*>(this) + EntriesOffset(mask_ + 1)));
  }
  const Entry* entries() const { return const_cast<ShardTable*>(this)->entries(); }

  const size_t mask_;  // slots - 1
  size_t size_ = 0;
};

}  // namespace rcu::container_internal

#endif  // RCU_CONTAINERS_INTERNAL_SHARD_TABLE_H_
