// -----------------------------------------------------------------------------
// File: copy_on_grow_array.h
// -----------------------------------------------------------------------------
//
// `rcu::CopyOnGrowArray<T>` is a growable array that readers index and iterate without locks:
// the kernel's afs_cache_permit() / linear_add() pattern. Appending writes into spare capacity
// and then publishes the new size; growing copies everything into a larger block, publishes it,
// and retires the old one. Use it for read-mostly sequences that only grow, or change rarely:
// registries of handlers, per-shard tables, permit lists. Do not use it for frequent updates in
// the middle (`Set` copies the whole array) or for keyed lookups (use rcu::HashMap).
//
// Read side:    `auto view = array.Read(guard);` returns a span-like view whose data pointer and
//               size come from one snapshot (A1: the size always belongs to the storage it is read
//               with). Elements are const; the view stays valid until the guard's outermost
//               section ends.
// Update side:  Append, Set, Truncate and Clear are serialized by the array's lock. Appending
//               without growth constructs the element in spare capacity, then publishes the new
//               size with release order (A3: readers never see an unconstructed slot). Growth
//               (geometric, 2x) copies every element into a new block first and publishes it
//               last. Published elements are never modified in place: Set and Truncate build a new
//               block.
// Reclamation:  replaced blocks (and the elements they hold) are retired on the array's domain
//               (A2: never freed while a reader may index them), after the lock is released.
// Elements:     T must be copy-constructible (growth copies; a move-only T fails to compile
//               with a message that says so). Every update gives the strong guarantee: a copy
//               that throws leaves the array as it was and frees what the update built.
// Memory order: a reader that sees an element, through the size or through a new block, sees it
//               fully constructed.
// Batching:     a read-side section and a Read() cost about as much as one indexed read, so a
//               reader that looks at several elements should take one view in one section and
//               index it as often as it needs (the view stays valid for the whole section; no
//               copy; the benchmark report has the figures).
// Progress:     Read() and indexing are wait-free; updates block on the array's lock; Append is
//               amortized O(1), Set and Truncate O(n).
// Misuse:       A1, A2, A3 by construction; R1 (Read needs a guard of the array's domain).
//
// Example:
//   rcu::CopyOnGrowArray<Handler> handlers;
//   handlers.Append(Handler{...});                       // any thread, serialized
//
//   void Dispatch(int id) {
//     rcu::ReadGuard guard;
//     auto view = handlers.Read(guard);
//     if (id < view.size()) view[id].Run();
//   }

#ifndef RCU_CONTAINERS_COPY_ON_GROW_ARRAY_H_
#define RCU_CONTAINERS_COPY_ON_GROW_ARRAY_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "rcu/containers/internal/retire_batch.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {

template <typename T>
class CopyOnGrowArray {
  static_assert(std::is_copy_constructible_v<T>,
                "rcu::CopyOnGrowArray<T>: T must be copy-constructible: growing copies the "
                "elements into a new block while readers may still read the old one (for "
                "move-only elements use rcu::List or rcu::HashMap)");
  struct Block;

 public:
  // A snapshot of the array: storage and size from one load (A1).
  class View {
   public:
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const T& operator[](size_t i) const { return data_[i]; }
    const T* data() const { return data_; }
    const T* begin() const { return data_; }
    const T* end() const { return data_ + size_; }

   private:
    friend class CopyOnGrowArray;
    View(const T* data, size_t size) : data_(data), size_(size) {}
    const T* data_;
    size_t size_;
  };

  // Throws std::length_error when `initial_capacity` is over max_size() (as std::vector::reserve
  // does), std::bad_alloc when the memory cannot be had.
  explicit CopyOnGrowArray(Domain& domain = Domain::Default(), size_t initial_capacity = 16)
      : domain_(domain), block_(Block::Create(std::max<size_t>(initial_capacity, 1))) {}
  CopyOnGrowArray(const CopyOnGrowArray&) = delete;
  CopyOnGrowArray& operator=(const CopyOnGrowArray&) = delete;

  // CopyOnGrowArray::~CopyOnGrowArray()
  //
  // Destroys the elements at once. Requires: no reader is inside a section that reached it.
  ~CopyOnGrowArray() { Block::Destroy(block_.load(std::memory_order_relaxed)); }

  // CopyOnGrowArray::Read()
  //
  // The current elements. Requires: `guard` holds a section of the array's domain (R1).
  // Invalidates: the view when the guard's outermost section ends.
  View Read(const ReadGuard& guard,
            const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "R1", "CopyOnGrowArray::Read()", where);
    const Block* b = block_.load(std::memory_order_acquire);
    return View(b->data(), b->size.load(std::memory_order_acquire));
  }

  // CopyOnGrowArray::Append()
  //
  // Adds `value` at the end; returns its index. Amortized O(1).
  size_t Append(T value,
                const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    container_internal::RetireBatch<> retired(domain_, where);  // after the lock (R12)
    UpdateLock lock(mu_);
    Block* b = block_.load(std::memory_order_relaxed);
    const size_t n = b->size.load(std::memory_order_relaxed);
    if (n < b->capacity) {
      new (&b->data()[n]) T(std::move(value));          // in spare capacity: invisible so far
      b->size.store(n + 1, std::memory_order_release);  // A3: publish after construction
      return n;
    }
    BlockPtr grown(Block::Create(b->capacity <= max_size() / 2 ? b->capacity * 2 : n + 1));
    Block::CopyInto(*b, *grown, n);
    new (&grown->data()[n]) T(std::move(value));
    grown->size.store(n + 1, std::memory_order_relaxed);
    Publish(std::move(grown), retired);
    return n;
  }

  // CopyOnGrowArray::Set()
  //
  // Replaces element `i` by a new value, in a new block (readers see the old array or the new
  // one, never a half-written element). O(n). Requires: i < size().
  void Set(size_t i, T value,
           const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    container_internal::RetireBatch<> retired(domain_, where);  // after the lock (R12)
    UpdateLock lock(mu_);
    Block* b = block_.load(std::memory_order_relaxed);
    const size_t n = b->size.load(std::memory_order_relaxed);
    BlockPtr fresh(Block::Create(b->capacity));
    for (size_t j = 0; j < n; ++j) {
      new (&fresh->data()[j]) T(j == i ? std::move(value) : b->data()[j]);
      fresh->size.store(j + 1, std::memory_order_relaxed);  // what a throw must destroy
    }
    Publish(std::move(fresh), retired);
  }

  // CopyOnGrowArray::Truncate()
  //
  // Keeps the first `n` elements (no-op if there are no more), in a new block. O(n).
  void Truncate(size_t n,
                const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    container_internal::RetireBatch<> retired(domain_, where);  // after the lock (R12)
    UpdateLock lock(mu_);
    Block* b = block_.load(std::memory_order_relaxed);
    const size_t size = b->size.load(std::memory_order_relaxed);
    if (n >= size) return;
    BlockPtr fresh(Block::Create(std::max<size_t>(n, 1)));
    Block::CopyInto(*b, *fresh, n);
    Publish(std::move(fresh), retired);
  }

  void Clear(const internal::SourceLocation& where = internal::SourceLocation::current()) {
    Truncate(0, where);
  }

  // CopyOnGrowArray::size()
  //
  // Exact for updaters; a snapshot for readers (use Read() to index).
  size_t size() const {
    // The block may be retired under a caller outside any section; read the size inside one.
    ReadGuard guard(domain_);
    return block_.load(std::memory_order_acquire)->size.load(std::memory_order_acquire);
  }

  // The most elements an array can hold: its block's bytes fit in a ptrdiff_t. Append() past it
  // throws std::length_error.
  static constexpr size_t max_size() { return (size_t{PTRDIFF_MAX} - sizeof(Block)) / sizeof(T); }

  Domain& domain() const { return domain_; }

 private:
  // Aligned for T, so the elements that follow the header in the same allocation are too.
  struct alignas(std::max(alignof(T), alignof(std::max_align_t))) Block {
    CallbackHead head;  // first: a CallbackHead* is a Block*
    std::atomic<size_t> size{0};
    size_t capacity;

    T* data() { return reinterpret_cast<T*>(this + 1); }
    const T* data() const { return reinterpret_cast<const T*>(this + 1); }

    static Block* Create(size_t capacity) {
      if (capacity > max_size()) {
        throw std::length_error("rcu::CopyOnGrowArray: capacity is over max_size()");
      }
      void* memory = ::operator new(sizeof(Block) + capacity * sizeof(T),
                                    std::align_val_t(alignof(Block)), std::nothrow);
      if (memory == nullptr) throw std::bad_alloc();
      Block* b = new (memory) Block;
      b->capacity = capacity;
      return b;
    }
    // Copies the first `n` elements into the empty block `to`, counting them in `to.size` as it
    // goes, so that a copy that throws leaves `to` holding exactly what was constructed.
    static void CopyInto(const Block& from, Block& to, size_t n) {
      for (size_t j = 0; j < n; ++j) {
        new (&to.data()[j]) T(from.data()[j]);
        to.size.store(j + 1, std::memory_order_relaxed);
      }
    }
    static void Destroy(Block* b) {
      const size_t n = b->size.load(std::memory_order_relaxed);
      for (size_t j = 0; j < n; ++j) b->data()[j].~T();
      b->~Block();
      ::operator delete(b, std::align_val_t(alignof(Block)));
    }
    static void Retired(CallbackHead* head) { Destroy(reinterpret_cast<Block*>(head)); }
  };

  struct BlockDeleter {
    void operator()(Block* b) const { Block::Destroy(b); }
  };
  // A block not published yet: destroyed with what it holds if an element's copy throws.
  using BlockPtr = std::unique_ptr<Block, BlockDeleter>;

  // Publishes `fresh`; the block it replaces is freed after its readers are done (A2), from
  // `retired` once the lock is released, so back-pressure never sleeps under it and a callback
  // may update the array.
  void Publish(BlockPtr fresh, container_internal::RetireBatch<>& retired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Block* old = block_.exchange(fresh.release(), std::memory_order_acq_rel);
    retired.Call(&old->head, &Block::Retired);
  }

  Domain& domain_;
  mutable UpdateMutex mu_;
  std::atomic<Block*> block_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_COPY_ON_GROW_ARRAY_H_
