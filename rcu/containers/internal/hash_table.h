// Not part of the public API; include "rcu/containers/hash_map.h".
//
// The table behind rcu::HashMap: open addressing over groups of 7 slots, each group one or two
// cache lines that start with a 64-bit word of control bytes (one per slot, as Abseil's
// SwissTable), so that a lookup usually reads one group: the word, then the slot its tag picks.
//
// Slots: an entry (key and value) lives in its slot itself when both are trivially copyable and
//   it takes at most 32 bytes ("inline": a uint64_t -> uint64_t map pays 16 bytes and its share of
//   the control word per slot, and no allocation); otherwise the slot holds a pointer to an entry
//   allocated on insert ("node"). Either way an entry is never modified while it is in the table:
//   an assignment builds a new entry and retires the old one (Replacing, below). One exception,
//   for the table's users inside the library: a trivially destructible value that declares
//   `CopiedWhileRead` is kept inline too, and may have `mutable` fields that readers access only
//   through std::atomic_ref (LookupCache's use count); its copy constructor reads them so, for
//   a resize copies slots through it while readers store.
// Control bytes: kEmpty (never used since the array was built), a 7-bit tag from the hash (full),
//   kBusy (claimed by an updater that is writing the slot), kRetiring (erased; readers that saw
//   the entry may still read it), kDeleted (erased a grace period ago: free for reuse). Byte 7
//   of every word is kBusy forever. A lookup probes groups in triangular order from the key's home
//   group, compares keys on tag matches, and stops at the first group with an empty slot.
// Why a lookup never misses a present key (H3): bytes only leave kEmpty (never return to it in one
//   array), so the first group with an empty slot on a key's probe only moves later; an update
//   never places an entry past it, and a lookup stops there.
// Replacing: pointer slots swap the pointer (release; lookups load it with acquire), so the entry
//   never moves. Inline entries cannot be swapped: the new entry goes into another slot, and
//   where it may go is what keeps lookups right. A lookup returns the first full slot of its key
//   in probe order (group by group, then slot by slot within a group's word), so the full slots of
//   one key (its "versions") are kept newest first along the probe. The new entry takes the
//   earliest free slot on the probe before the second version (the first shadow, below):
//   - before the current entry: the current entry stays full, a "shadow", for a grace period. A
//     lookup that read the new slot's group before it was published still finds the old value
//     further on; every lookup that begins later finds the new one first (Slot reuse, below);
//   - after the current entry (and before the first shadow): the current entry turns kRetiring
//     after the new one is published, so a lookup that sees it retiring finds the new one later.
//   With neither free, the new entry goes after the last version and every version turns
//   kRetiring, shadows first (a lookup that sees the current entry retiring sees its shadows
//   retiring too, and finds the new one). Erase also retires shadows first, then the current one.
//   So a hot key keeps to the slots nearest its home, which its earlier values leave free a grace
//   period later (a replacement always placed after the old entry would walk hot keys down their
//   probes, and the array would be rebuilt again and again).
// Updates: under the key's stripe (hash % kStripes; a SpinLock, spin_lock.h says why), so no two
//   updaters work on one key; they claim free slots (kEmpty or kDeleted) with a compare-and-swap
//   on the control word and change the bytes they own (their key's, their claim's) with one
//   atomic XOR each. An update also holds a read-side section: its probe reads other keys' slots,
//   which other stripes may retire and recycle meanwhile.
// Slot reuse: an erased or replaced slot turns kRetiring and joins its stripe's open batch; a
//   batch of 1/512 of the slots is closed with a grace-period cookie (Domain::StartPoll()) and,
//   once the cookie completes, its slots turn kDeleted: no lookup that saw them full is still
//   running, so a new entry may be written there. A shadow joins the batch too, but turns
//   kRetiring when its batch completes and kDeleted a batch later: it was full for lookups of
//   every key whose probe passes it (they compare its key), not only for its own key's. The
//   batches live per stripe and per array: a deferred free costs nothing per live entry. Node
//   entries are retired by the caller (Domain::Retire()) when unlinked or swapped out.
// Resize: when the empty slots run out (a load of 7/8, counting retiring and deleted slots), the
//   updater that used the last one takes every stripe, copies the full slots but shadows (inline
//   entries, or node pointers) into a new array sized for 1.5x the entries, publishes it and
//   hands the old one, whole, to the update's Result, which retires it when the caller destroys
//   it (after releasing its own locks: R12). Readers of the old array go on reading it: it is
//   freed after a grace period. An array shrinks when it is
//   four times larger than its entries need (never below the initial capacity).
// Memory order (pairings named at both ends as [P1] to [P4]; [P1], [P3] and [P4] are model-checked
// with Relacy, busted twins included: tests/model/relacy_models.cc):
//   [P1] a slot is written before its byte turns full with a release XOR; lookups load the
//        control word with acquire, so a lookup that sees a tag sees its entry complete. Release
//        sequences (C++20: every later read-modify-write of the word continues them) make this
//        hold when a lookup reads a word that a later update of another byte produced.
//   [P2] pointer slots: the swap stores the new pointer with release, lookups load it with
//        acquire.
//   [P3] a replacement publishes the new entry, and retires shadows, before the current entry's
//        byte turns kRetiring (release): a lookup that reads it retiring (acquire) sees all that.
//   [P4] slot reuse: a reader's reads of a slot happen before the grace period that completes a
//        batch's cookie (the domain's guarantee), and so before Recycle()'s release XOR to
//        kDeleted; the updater that claims the slot does so with an acquire compare-and-swap,
//        so its writes to the slot come after every such read.

#ifndef RCU_CONTAINERS_INTERNAL_HASH_TABLE_H_
#define RCU_CONTAINERS_INTERNAL_HASH_TABLE_H_

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "rcu/containers/internal/retire_batch.h"
#include "rcu/containers/internal/spin_lock.h"
#include "rcu/domain.h"
#include "rcu/version.h"

namespace rcu::container_internal {

// An element: what a slot holds (inline) or points to (node).
template <typename K, typename V>
struct HashEntry {
  const K key;
  const V value;
};

// Control bytes and the word-at-a-time tests on them (byte i is bits 8i to 8i+7 of the word, on
// every platform: the word is only ever read as an integer).
struct Control {
  static constexpr int kSlots = 7;
  // Bytes in a control word (a byte per slot, and the busy byte 7): a slot's index in an array
  // is group * kBytes + slot.
  static constexpr size_t kBytes = sizeof(uint64_t);
  static constexpr uint8_t kEmpty = 0x80;     // bit 7 set, bits 1 and 0 clear
  static constexpr uint8_t kDeleted = 0xFE;   // bit 7 set, bit 1 set, bit 0 clear
  static constexpr uint8_t kRetiring = 0xFB;  // bits 7, 1 and 0 set
  static constexpr uint8_t kBusy = 0xFF;      // bits 7, 1 and 0 set
  static constexpr uint64_t kLsbs = 0x0101010101010101;
  static constexpr uint64_t kMsbs = 0x8080808080808080;
  // A group's word when it is new: every slot empty, byte 7 busy.
  static constexpr uint64_t kFresh =
      (kLsbs * kEmpty & ~(uint64_t{0xFF} << 56)) | (uint64_t{kBusy} << 56);

  // Bit 7 of byte i set where byte i may hold `tag` (false positives only next to true ones, and
  // only on full bytes: callers compare keys).
  static uint64_t MatchTag(uint64_t word, uint64_t tag) {
    const uint64_t x = word ^ (kLsbs * tag);
    return (x - kLsbs) & ~x & kMsbs;
  }
  static uint64_t MatchEmpty(uint64_t word) { return word & ~(word << 6) & kMsbs; }
  static uint64_t MatchFree(uint64_t word) {
    return word & ~(word << 7) & kMsbs;
  }  // empty, deleted
  static uint64_t MatchFull(uint64_t word) { return ~word & kMsbs; }
  static uint8_t Byte(uint64_t word, int i) { return static_cast<uint8_t>(word >> (8 * i)); }
  static int Lowest(uint64_t mask) { return std::countr_zero(mask) >> 3; }
  // What XOR turns byte i from `from` into `to`.
  static uint64_t Flip(int i, uint8_t from, uint8_t to) {
    return uint64_t{static_cast<uint8_t>(from ^ to)} << (8 * i);
  }
};

// How an entry sits in a slot: inline, or behind a pointer.
template <typename Entry, bool kInline>
struct SlotOf;

template <typename Entry>
struct SlotOf<Entry, true> {
  alignas(Entry) unsigned char bytes[sizeof(Entry)];

  using Owned = Entry;  // what an update brings
  const Entry* Get() const { return std::launder(reinterpret_cast<const Entry*>(bytes)); }
  void Put(Owned& entry) { new (bytes) Entry(entry); }
  void CopyFrom(const SlotOf& other) { new (bytes) Entry(*other.Get()); }
  Entry* Node() const { return nullptr; }  // nothing to retire
};

template <typename Entry>
struct SlotOf<Entry, false> {
  std::atomic<Entry*> node{nullptr};

  using Owned = std::unique_ptr<Entry>;
  const Entry* Get() const { return node.load(std::memory_order_acquire); }  // [P2]
  // Before the byte is published ([P1] orders it).
  void Put(Owned& entry) { node.store(entry.release(), std::memory_order_relaxed); }
  // A published slot's entry: the old one, for the caller to retire.
  Entry* Swap(Owned& entry) { return node.exchange(entry.release(), std::memory_order_release); }
  void CopyFrom(const SlotOf& other) { node.store(other.Node(), std::memory_order_relaxed); }
  Entry* Node() const { return node.load(std::memory_order_relaxed); }
};

template <typename Slot>
struct alignas(64) HashGroup {
  std::atomic<uint64_t> control{Control::kFresh};
  Slot slots[Control::kSlots];
};

// A slot array: a header and the groups, in one allocation. Arrays of 2 MiB or more are mapped
// on their own (and given back to the system when freed), in transparent huge pages where the
// system allows it and the table asks (HashMapOptions::huge_pages): every lookup starts with a
// random access into the array.
template <typename Group>
struct GroupArray {
  size_t mask;  // groups - 1
  int shift;    // 64 - log2(groups): the home group is the top bits of the mixed hash

  Group* groups() { return reinterpret_cast<Group*>(reinterpret_cast<char*>(this) + kHeader); }
  const Group* groups() const { return const_cast<GroupArray*>(this)->groups(); }
  size_t slot_count() const { return (mask + 1) * Control::kSlots; }

  static constexpr size_t kHeader = sizeof(Group);  // keeps groups aligned to their lines
  static constexpr size_t kMapped = size_t{2} << 20;
  // The most groups an array may have: its bytes fit in a ptrdiff_t, as every object's must.
  static constexpr size_t kMaxGroups =
      std::bit_floor((size_t{PTRDIFF_MAX} - kHeader) / sizeof(Group));
  // Requires: groups <= kMaxGroups (so this cannot wrap).
  static size_t Bytes(size_t groups) { return kHeader + groups * sizeof(Group); }

  // An array of `groups` (a power of two) fresh groups, or null when memory is short.
  static GroupArray* Create(size_t groups, bool huge_pages) {
    const size_t bytes = Bytes(groups);
    void* memory;
    if (bytes >= kMapped) {
      memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (memory == MAP_FAILED) return nullptr;
      if (huge_pages) madvise(memory, bytes, MADV_HUGEPAGE);
    } else {
      memory = ::operator new(bytes, std::align_val_t(alignof(Group)), std::nothrow);
      if (memory == nullptr) return nullptr;
    }
    auto* array = new (memory) GroupArray{groups - 1, 64 - std::countr_zero(groups)};
    for (size_t g = 0; g < groups; ++g) new (&array->groups()[g]) Group();
    return array;
  }
  static void Destroy(GroupArray* array) {
    const size_t bytes = Bytes(array->mask + 1);
    array->~GroupArray();  // groups hold trivially destructible bytes and atomics
    if (bytes >= kMapped) {
      munmap(array, bytes);
    } else {
      ::operator delete(array, std::align_val_t(alignof(Group)));
    }
  }
  struct Deleter {
    void operator()(GroupArray* array) const { Destroy(array); }
  };
};

template <typename K, typename V, typename Hash, typename Eq>
class HashTable {
 public:
  using Entry = HashEntry<K, V>;
  static constexpr bool kInline =
      std::is_trivially_copyable_v<K> &&
      (std::is_trivially_copyable_v<V> ||
       (std::is_trivially_destructible_v<V> && requires { typename V::CopiedWhileRead; })) &&
      sizeof(Entry) <= 32;
  using Slot = SlotOf<Entry, kInline>;
  using Owned = typename Slot::Owned;
  static constexpr size_t kStripes = 32;

  using Array = GroupArray<HashGroup<Slot>>;

  // What an update did. What it unlinked (node mode: the entry it replaced or removed) and the
  // arrays its resizes replaced go to the caller's RetireBatch, which retires them after the
  // engine released its stripe.
  struct Result {
    bool inserted = false;  // the key was absent and is now present
    bool present = false;   // Link: the key was present (assigned when asked to)
  };

  // `initial_slots` is also the fewest the table shrinks to; `huge_pages` asks for transparent
  // huge pages for arrays of 2 MiB or more. Throws std::length_error when it is
  // over kMaxSize, std::bad_alloc when the memory cannot be had.
  HashTable(Domain& domain, size_t initial_slots, const Hash& hash, const Eq& eq,
            bool huge_pages = true)
      : domain_(domain),
        min_groups_(CheckedGroupsFor(initial_slots)),
        huge_pages_(huge_pages),
        hash_(hash),
        eq_(eq) {
    Array* array = Array::Create(min_groups_, huge_pages_);
    if (array == nullptr) throw std::bad_alloc();
    Install(array, 0);
  }
  HashTable(const HashTable&) = delete;
  HashTable& operator=(const HashTable&) = delete;

  // Frees every entry and the array. Requires: no reader, no update.
  ~HashTable() {
    Array* array = array_.load(std::memory_order_relaxed);
    if constexpr (!kInline) {
      ForEachFull(*array, [](size_t, const Slot& slot) { delete slot.Node(); });
    }
    Array::Destroy(array);
  }

  const Hash& hash_function() const { return hash_; }

  // The entry of `key` (a K, or any type Hash and Eq take with K), or null. Wait-free: it reads
  // at most every group once. Requires: a read-side section of the domain, `hash` = Hash(key).
  template <typename Q>
  const Entry* Find(size_t hash, const Q& key) const {
    return Search(*array_.load(std::memory_order_acquire), hash, key).entry;
  }

  // Calls fn(const Entry&) for the entries of one array, each key once as of when its slot is
  // visited (a shadow is skipped: the entry a lookup would find then is the one visited, where it
  // lies). Requires: a read-side section.
  template <typename Fn>
  void ForEach(Fn fn) const {
    const Array& array = *array_.load(std::memory_order_acquire);
    ForEachFull(array, [&](size_t index, const Slot& slot) {
      const Entry* entry = slot.Get();
      if constexpr (kInline) {
        if (Search(array, hash_(entry->key), entry->key).index() != index) return;
      }
      fn(*entry);
    });
  }

  // Puts `fresh` in the table unless its key is present; when it is and `assign`, replaces the
  // entry. `fresh` stays with the caller when the key is present and not assigned. Throws only
  // what Eq throws or std::bad_alloc, before anything changed (std::bad_alloc also when no slot
  // is free for the key and no new array can be had).
  Result Link(size_t hash, Owned& fresh, bool assign, RetireBatch<>& retired) {
    return Link(hash, EntryOf(fresh).key, retired, [&](const Entry* current) {
      return current == nullptr || assign ? &fresh : nullptr;
    });
  }

  // As Link(), with what to put decided under the key's stripe: `decide(current)` (the key's
  // entry, or null) returns the Owned to put for `key`, or null to leave the key as it is; no
  // other update of the key comes between. It may run again (with the key's entry then) when the
  // array must be rebuilt first. What it throws leaves the table unchanged.
  template <typename Q, typename Decide>
  Result Link(size_t hash, const Q& key, RetireBatch<>& retired, Decide decide) {
    Result result;
    retired.Reserve(3);  // an entry, arrays
    for (;;) {
      {
        // A section too: the probe reads other keys' slots, which their updaters may retire and
        // recycle meanwhile (without it, ThreadSanitizer saw a recycled slot's write race with
        // the read).
        ReadGuard section(domain_);
        Prefetch(hash);
        Stripe& stripe = StripeFor(hash);
        SpinLockGuard lock(stripe.mu);
        Recycle(stripe);
        Array& array = *array_.load(std::memory_order_relaxed);
        const std::vector<Probe>& versions = Locate(array, stripe, hash, key);
        result.present = !versions.empty();
        Owned* put = decide(result.present ? versions[0].entry : nullptr);
        if (put == nullptr) return result;
        Owned& fresh = *put;
        if (!result.present) {
          if (Place(array, hash, fresh, Start(array, hash), kUnbounded).group != kNone) {
            result.inserted = true;
            size_.fetch_add(1, std::memory_order_relaxed);
            break;
          }
        } else if constexpr (!kInline) {
          retired.Retire(array.groups()[versions[0].group].slots[versions[0].slot].Swap(fresh));
          break;
        } else if (Replace(array, stripe, hash, fresh, versions)) {
          break;
        }
      }
      // No free slot where the entry may go: rebuild the array, then try again.
      Array* replaced = Rebuild(/*force=*/true);
      if (replaced == nullptr) throw std::bad_alloc();
      RetireArray(replaced, retired);
    }
    if (growth_left_.load(std::memory_order_relaxed) <= 0) RetireArray(Rebuild(), retired);
    return result;
  }

  // Takes `key` out of the table. Sets `present`.
  template <typename Q>
  Result Unlink(size_t hash, const Q& key, RetireBatch<>& retired) {
    Result result;
    retired.Reserve(2);  // the entry, an array
    {
      ReadGuard section(domain_);  // as in Link()
      Prefetch(hash);
      Stripe& stripe = StripeFor(hash);
      SpinLockGuard lock(stripe.mu);
      Recycle(stripe);
      Array& array = *array_.load(std::memory_order_relaxed);
      const std::vector<Probe>& versions = Locate(array, stripe, hash, key);
      if (versions.empty()) return result;
      stripe.open.Reserve();
      result.present = true;
      if (Entry* node = RetireVersions(array, stripe, versions)) retired.Retire(node);
      size_.fetch_sub(1, std::memory_order_relaxed);
    }
    const size_t groups = group_count();
    if (groups > min_groups_ && GroupsFor(size() + size() / 2) * 4 <= groups) {
      RetireArray(Rebuild(), retired);
    }
    return result;
  }

  // Rebuilds the array for the current size (growing, shrinking, or dropping retired slots) when
  // the size calls for it or `force`, and retires the old one. Never throws: without memory, or
  // if Hash throws, the table keeps its array. Returns whether it rebuilt. Call it outside every
  // stripe and every lock a callback may need.
  bool Resize(bool force = false,
              const internal::SourceLocation& where = internal::SourceLocation::current()) {
    RetireBatch<> retired(domain_, where);
    RetireArray(Rebuild(force), retired);
    return !retired.empty();
  }

  // Exact when no update runs; a snapshot otherwise.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  // Slots in the current array. Kept apart from the array, so that no one dereferences an array
  // outside a stripe or a read-side section (a resize may retire it at any time).
  size_t slot_count() const { return group_count() * Control::kSlots; }

 private:
  using Group = HashGroup<Slot>;

  // Resize() without the retire: the replaced array (published no more), or null if none was
  // rebuilt. Call it outside every stripe.
  Array* Rebuild(bool force = false) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    // Every stripe, in order: no update runs while the array is copied.
    for (Stripe& s : stripes_) s.mu.lock();
    Array* old = array_.load(std::memory_order_relaxed);
    const size_t entries = size();
    const size_t groups = std::max(min_groups_, GroupsFor(entries + entries / 2));
    Array* fresh = nullptr;
    // Again under the stripes: another updater may have resized since the caller looked.
    const bool needed =
        force || growth_left_.load(std::memory_order_relaxed) <= 0 || groups < old->mask + 1;
    if (needed) fresh = Copy(*old, groups);
    if (fresh != nullptr) {
      for (Stripe& s : stripes_) s.open.Clear(), s.closed.Clear();
      Install(fresh, entries);  // publishes the new array
    }
    for (size_t i = kStripes; i-- > 0;) stripes_[i].mu.unlock();
    return fresh != nullptr ? old : nullptr;
  }

 public:
  // The most entries a table can be asked to hold (HashMap::max_size()).
  static constexpr size_t kMaxSize = Array::kMaxGroups / 8 * 7 * Control::kSlots;

 private:
  static constexpr size_t kNone = ~size_t{0};
  static constexpr size_t kBatch = 64;  // the most slots a stripe's open batch gathers

  // A position on a key's probe: the group, its step (the triangular sequence goes on from it;
  // positions compare by step, then slot), a slot in the group, and the entry a search found.
  struct Probe {
    size_t group = kNone;  // kNone: nowhere (not found, not placed)
    size_t step = 1;
    int slot = 0;
    const Entry* entry = nullptr;

    size_t index() const { return group * Control::kBytes + static_cast<size_t>(slot); }
    bool Before(const Probe& other) const {
      return step != other.step ? step < other.step : slot < other.slot;
    }
  };
  static constexpr Probe kUnbounded{0, ~size_t{0}, 0, nullptr};

  // Slot indices (Probe::index()) in the current array that wait for a grace period.
  struct Batch {
    std::vector<size_t> retiring;  // turn kDeleted when the batch's grace period is over
    std::vector<size_t> shadows;   // turn kRetiring then, and join the next batch

    size_t size() const { return retiring.size() + shadows.size(); }
    // Room for one more of each: taken before an update changes anything.
    void Reserve() {
      retiring.reserve(retiring.size() + 1);
      shadows.reserve(shadows.size() + 1);
    }
    void Clear() { retiring.clear(), shadows.clear(); }
  };

  struct alignas(64) Stripe {
    SpinLock mu;
    Batch open ABSL_GUARDED_BY(mu);    // since `closed` was closed
    Batch closed ABSL_GUARDED_BY(mu);  // waiting for `cookie`
    GracePeriodCookie cookie ABSL_GUARDED_BY(mu);
    std::vector<Probe> versions ABSL_GUARDED_BY(mu);  // Locate()'s answer
  };

  static const Entry& EntryOf(const Owned& owned) {
    if constexpr (kInline) {
      return owned;
    } else {
      return *owned;
    }
  }
  static uint64_t Tag(size_t hash) { return hash & 0x7F; }
  // The home group: the top bits of the hash times a 64-bit odd constant (Fibonacci hashing), so
  // that a weak user hash (the identity) still spreads keys over groups.
  static size_t Home(const Array& array, size_t hash) {
    return static_cast<size_t>((uint64_t{hash} * 0x9E3779B97F4A7C15) >> array.shift) & array.mask;
  }
  static size_t CheckedGroupsFor(size_t slots) {
    if (slots > kMaxSize) {
      throw std::length_error("rcu::HashMap: initial_capacity is over max_size()");
    }
    return GroupsFor(slots);
  }
  // Groups (a power of two, at least 2) whose 7/8 load holds `slots` entries.
  // Requires: slots <= kMaxSize (so neither the product nor the power of two can wrap).
  static size_t GroupsFor(size_t slots) {
    const size_t groups = (slots * 8 / 7 + Control::kSlots - 1) / Control::kSlots;
    return std::bit_ceil(std::max<size_t>(groups, 2));
  }
  static size_t MaxLoad(size_t groups) { return groups * Control::kSlots * 7 / 8; }
  // Bit 7 of the bytes after byte `i` (all of them for i = -1), and of the bytes before it.
  static uint64_t BytesAfter(int i) {
    return i < 0 ? Control::kMsbs : Control::kMsbs & (~uint64_t{0} << (8 * i + 8));
  }
  static uint64_t BytesBefore(int i) { return Control::kMsbs & ((uint64_t{1} << (8 * i)) - 1); }

  Stripe& StripeFor(size_t hash) const { return stripes_[hash % kStripes]; }
  size_t group_count() const { return groups_.load(std::memory_order_relaxed); }

  void Install(Array* array, size_t entries) {
    growth_left_.store(static_cast<ptrdiff_t>(MaxLoad(array->mask + 1) - entries),
                       std::memory_order_relaxed);
    groups_.store(array->mask + 1, std::memory_order_relaxed);
    array_.store(array, std::memory_order_release);
  }

  // fn(index, slot) for every full slot, shadows included.
  template <typename Fn>
  static void ForEachFull(const Array& array, Fn fn) {
    for (size_t g = 0; g <= array.mask; ++g) {
      const Group& group = array.groups()[g];
      for (uint64_t m = Control::MatchFull(group.control.load(std::memory_order_acquire)); m != 0;
           m &= m - 1) {
        const int i = Control::Lowest(m);
        fn(g * Control::kBytes + static_cast<size_t>(i), group.slots[i]);
      }
    }
  }

  // Starts loading the home group of `hash` for writing, so that the cache miss overlaps with
  // taking the stripe (whose line another updater may hold). Requires: a read-side section (the
  // array may be replaced meanwhile, but not freed).
  void Prefetch(size_t hash) const {
    const Array& array = *array_.load(std::memory_order_acquire);
    __builtin_prefetch(&array.groups()[Home(array, hash)], /*rw=*/1);
  }

  // Just before the first slot of `hash`'s probe.
  static Probe Start(const Array& array, size_t hash) { return {Home(array, hash), 1, -1}; }

  // The one probe sequence: triangular steps from a group (group g + 1 + 2 + ... + (step - 1)),
  // which visit every group of a power-of-two array once in its first `mask + 1` steps.
  class Sequence {
   public:
    Sequence(size_t group, size_t step, size_t mask) : group_(group), step_(step), mask_(mask) {}
    size_t group() const { return group_; }
    size_t step() const { return step_; }
    // Every group visited once (a probe that has not ended by then never will).
    bool last() const { return step_ > mask_; }
    void Next() { group_ = (group_ + step_++) & mask_; }

   private:
    size_t group_;
    size_t step_;
    const size_t mask_;
  };

  // The first full slot of `key` after `after` on its probe (from its beginning: Start()), as of
  // the control words it read; group kNone when the probe ends first (past the first group with
  // an empty slot, or after every group). For a lookup, the entry; for an update, which holds
  // the key's stripe, exactly the current entry and then, searching on from each, its shadows.
  // Requires: a read-side section.
  template <typename Q>
  Probe Search(const Array& array, size_t hash, const Q& key, const Probe& after) const {
    const uint64_t tag = Tag(hash);
    uint64_t allowed = BytesAfter(after.slot);
    for (Sequence seq(after.group, after.step, array.mask);; seq.Next()) {
      const Group& group = array.groups()[seq.group()];
      const uint64_t word = group.control.load(std::memory_order_acquire);  // [P1] [P3]
      for (uint64_t m = Control::MatchTag(word, tag) & allowed; m != 0; m &= m - 1) {
        const int i = Control::Lowest(m);
        const Entry* entry = group.slots[i].Get();
        if (ABSL_PREDICT_TRUE(eq_(entry->key, key))) return {seq.group(), seq.step(), i, entry};
      }
      if (ABSL_PREDICT_TRUE(Control::MatchEmpty(word) != 0) || seq.last()) return {};
      allowed = ~uint64_t{0};
    }
  }
  template <typename Q>
  Probe Search(const Array& array, size_t hash, const Q& key) const {
    return Search(array, hash, key, Start(array, hash));
  }

  // Every full slot of `key` (its versions: the current entry, then its shadows, in probe
  // order), in the stripe's scratch vector. Requires: the key's stripe, a read-side section.
  // Throws what Eq throws, or std::bad_alloc, before anything changed.
  template <typename Q>
  const std::vector<Probe>& Locate(const Array& array, Stripe& stripe, size_t hash, const Q& key)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    stripe.versions.clear();
    for (Probe p = Search(array, hash, key); p.group != kNone; p = Search(array, hash, key, p)) {
      stripe.versions.push_back(p);
      if constexpr (!kInline) break;  // pointers are swapped in place: one version at most
    }
    return stripe.versions;
  }

  // Claims the earliest free slot on `hash`'s probe after `after` and before `before` (never past
  // the first group with an empty slot), writes `fresh` there and publishes it. Returns where, or
  // group kNone.
  Probe Place(Array& array, size_t hash, Owned& fresh, const Probe& after, const Probe& before) {
    const uint8_t tag = static_cast<uint8_t>(Tag(hash));
    for (Sequence seq(after.group, after.step, array.mask); seq.step() <= before.step; seq.Next()) {
      Group& group = array.groups()[seq.group()];
      uint64_t allowed = ~uint64_t{0};
      if (seq.step() == after.step) allowed &= BytesAfter(after.slot);
      if (seq.step() == before.step) allowed &= BytesBefore(before.slot);
      uint64_t word = group.control.load(std::memory_order_relaxed);
      for (uint64_t free = Control::MatchFree(word) & allowed; free != 0;
           free = Control::MatchFree(word) & allowed) {
        // A deleted slot first: empty ones are the budget before the next rebuild.
        const uint64_t deleted = free & ~Control::MatchEmpty(word);
        const int i = Control::Lowest(deleted != 0 ? deleted : free);
        const uint8_t was = Control::Byte(word, i);
        if (group.control.compare_exchange_weak(word, word ^ Control::Flip(i, was, Control::kBusy),
                                                std::memory_order_acquire,  // [P4]
                                                std::memory_order_relaxed)) {
          if (was == Control::kEmpty) growth_left_.fetch_sub(1, std::memory_order_relaxed);
          group.slots[i].Put(fresh);
          group.control.fetch_xor(Control::Flip(i, Control::kBusy, tag),
                                  std::memory_order_release);  // [P1]
          return {seq.group(), seq.step(), i};
        }
      }
      if (Control::MatchEmpty(word) != 0 || seq.last()) break;
    }
    return {};
  }

  // Inline entries: puts `fresh` where the versions' order allows (Replacing, above). False when
  // no slot is free there.
  bool Replace(Array& array, Stripe& stripe, size_t hash, Owned& fresh,
               const std::vector<Probe>& versions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    stripe.open.Reserve();  // the only allocation: before any change
    const Probe& current = versions[0];
    const Probe& first_shadow = versions.size() > 1 ? versions[1] : kUnbounded;
    const Probe placed = Place(array, hash, fresh, Start(array, hash), first_shadow);
    if (placed.group != kNone) {
      if (placed.Before(current)) {
        stripe.open.shadows.push_back(current.index());
      } else {
        Flip(array, current.index(), Control::kRetiring, std::memory_order_release);  // [P3]
        stripe.open.retiring.push_back(current.index());
      }
      return true;
    }
    if (Place(array, hash, fresh, versions.back(), kUnbounded).group == kNone) return false;
    RetireVersions(array, stripe, versions);
    return true;
  }

  // Turns every version kRetiring, shadows first (they are on a batch already), then the current
  // entry, which joins the open batch ([P3]). Returns the node to retire (node mode). Requires:
  // stripe.open.Reserve().
  Entry* RetireVersions(Array& array, Stripe& stripe, const std::vector<Probe>& versions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    for (size_t v = versions.size(); v-- > 1;) {
      Flip(array, versions[v].index(), Control::kRetiring, std::memory_order_release);
    }
    Flip(array, versions[0].index(), Control::kRetiring, std::memory_order_release);  // [P3]
    stripe.open.retiring.push_back(versions[0].index());
    return array.groups()[versions[0].group].slots[versions[0].slot].Node();
  }

  // Completes the stripe's closed batch once its grace period is over: its retiring slots turn
  // kDeleted, free for reuse ([P4]), and its shadows turn kRetiring and join the open batch. A
  // shadow is full for lookups of every key that pass it, so it is reused only a grace period
  // after it stopped being full. Then closes the open batch, when none is waiting and it holds
  // 1/512 of the array's slots or kBatch: a grace period costs every reader an interrupt, so
  // slots are recycled in batches, not one by one; but a key assigned again and again takes a
  // new slot each time, and the longer its old ones wait, the further down its probe its new
  // ones go (batches much larger than kBatch made skewed lookups read dozens of groups). Throws
  // std::bad_alloc before anything changed.
  void Recycle(Stripe& stripe) ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    if (stripe.closed.size() != 0) {
      if (!domain_.PollState(stripe.cookie)) return;
      stripe.open.retiring.reserve(stripe.open.retiring.size() + stripe.closed.shadows.size());
      Array& array = *array_.load(std::memory_order_relaxed);
      for (size_t index : stripe.closed.retiring) {
        Flip(array, index, Control::kDeleted, std::memory_order_release);  // [P4]
      }
      for (size_t index : stripe.closed.shadows) {
        // Full, or retiring already (an erase or a later assignment retired it).
        Flip(array, index, Control::kRetiring, std::memory_order_release);
        stripe.open.retiring.push_back(index);
      }
      stripe.closed.Clear();
    }
    if (stripe.open.size() >= std::clamp<size_t>(slot_count() / (kStripes * 16), 1, kBatch)) {
      std::swap(stripe.open, stripe.closed);
      stripe.cookie = domain_.StartPoll();
    }
  }

  static void RetireArray(Array* array, RetireBatch<>& retired) {
    retired.Retire<Array, typename Array::Deleter>(array);
  }

  // Sets the byte of the slot at `index` to `to`. Requires: the byte is the caller's to change.
  static void Flip(Array& array, size_t index, uint8_t to, std::memory_order order) {
    std::atomic<uint64_t>& control = array.groups()[index / Control::kBytes].control;
    const int i = static_cast<int>(index % Control::kBytes);
    const uint8_t was = Control::Byte(control.load(std::memory_order_relaxed), i);
    if (was != to) control.fetch_xor(Control::Flip(i, was, to), order);
  }

  // The shadows waiting in the batches, sorted. Requires: every stripe.
  std::vector<size_t> Shadows() const ABSL_NO_THREAD_SAFETY_ANALYSIS {
    std::vector<size_t> shadows;
    for (const Stripe& s : stripes_) {
      for (const Batch* batch : {&s.open, &s.closed}) {
        shadows.insert(shadows.end(), batch->shadows.begin(), batch->shadows.end());
      }
    }
    std::sort(shadows.begin(), shadows.end());
    return shadows;
  }

  // A new array of `groups` holding the entries of `old` (not its shadows), or null (no memory,
  // or Hash threw). Requires: every stripe.
  Array* Copy(const Array& old, size_t groups) {
    Array* fresh = Array::Create(groups, huge_pages_);
    if (fresh == nullptr) return nullptr;
    try {
      const std::vector<size_t> shadows = Shadows();
      ForEachFull(old, [&](size_t index, const Slot& slot) {
        if (!shadows.empty() && std::binary_search(shadows.begin(), shadows.end(), index)) return;
        const size_t hash = hash_(slot.Get()->key);
        for (Sequence seq(Home(*fresh, hash), 1, fresh->mask);; seq.Next()) {
          Group& group = fresh->groups()[seq.group()];
          const uint64_t word = group.control.load(std::memory_order_relaxed);
          if (const uint64_t free = Control::MatchEmpty(word); free != 0) {
            const int i = Control::Lowest(free);
            group.slots[i].CopyFrom(slot);
            group.control.store(word ^ Control::Flip(i, Control::kEmpty, Tag(hash)),
                                std::memory_order_relaxed);
            return;
          }
        }
      });
    } catch (...) {
      Array::Destroy(fresh);
      return nullptr;
    }
    return fresh;
  }

  Domain& domain_;
  const size_t min_groups_;
  const bool huge_pages_;
  [[no_unique_address]] Hash hash_;
  [[no_unique_address]] Eq eq_;
  // What lookups read, on a line of its own: updates never write it but to resize.
  alignas(64) std::atomic<Array*> array_{nullptr};
  std::atomic<size_t> groups_{0};
  // What updates write.
  alignas(64) std::atomic<size_t> size_{0};
  std::atomic<ptrdiff_t> growth_left_{0};  // empty slots the array may still fill
  mutable Stripe stripes_[kStripes];
};

}  // namespace rcu::container_internal

#endif  // RCU_CONTAINERS_INTERNAL_HASH_TABLE_H_
