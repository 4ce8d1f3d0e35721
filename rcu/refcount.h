// -----------------------------------------------------------------------------
// File: refcount.h
// -----------------------------------------------------------------------------
//
// References that outlive a read-side section: RCU together with a reference count, as the
// kernel's kref_get_unless_zero() pattern. Inside a section RCU guarantees an object found there
// still exists; to keep using it after the section ends, a reader takes a reference, and only if
// the object is not already dying. The last reference dropped retires the object on its domain,
// so readers still inside a section that found it keep valid memory until a grace period passes.
//
//   rcu::RefCounted<T>  a base class (CRTP) with an atomic count; an object starts with one
//                       reference, its creator's. Costs 4 bytes and a Domain&.
//   rcu::Ref<T>         an owning handle: one reference, dropped when the handle is destroyed.
//                       Copying takes another; moving transfers it. Dropped once by construction.
//   rcu::MakeRef<T>()   constructs a T and returns the handle that owns its first reference.
//
// Read side:    inside a ReadGuard, `Ref<T>::TryFrom(p)` for an object found in the section:
//               a handle if the object's count was not zero, else empty (the object is being
//               retired: treat it as absent). Lock-free (a compare-and-swap loop), never blocks.
//               HashMap<K, Ref<T>>::FindRef(guard, key) does it for a map of handles.
// Update side:  unpublish the object first (a container erase, Published::Exchange), then drop
//               the publisher's reference; whoever drops the last one retires the object, and
//               its deleter runs after a grace period of the object's domain.
// Memory order: a drop is a release decrement, and the last drop acquires, so every use by any
//               holder happens before the deleter; the deleter runs after a grace period, so a
//               reader that found the object in a section and failed TryFrom never reads freed
//               memory.
// Misuse:       C1 a reference taken from zero (resurrection: an increment that does not check
//               for zero; Acquire() on a dying object): always checked, aborts with "C1:". C2 a
//               reference dropped twice (the count underflows): always checked, aborts with
//               "C2:" while the object's memory is still there (a section or a grace period
//               keeps it after its last drop; later the extra drop is a use-after-free, which
//               ASan reports); Ref<T> makes it impossible. TryFrom() outside a section of the
//               object's domain is R1 (the memory may be gone): checked in debug builds.
//
// Example:
//   struct Session : rcu::RefCounted<Session> { std::string user; };
//   rcu::HashMap<uint64_t, rcu::Ref<Session>> sessions;
//   sessions.Insert(id, rcu::MakeRef<Session>());
//
//   rcu::Ref<Session> Lookup(uint64_t id) {  // usable after the section ends
//     rcu::ReadGuard guard;
//     return sessions.FindRef(guard, id);
//   }

#ifndef RCU_REFCOUNT_H_
#define RCU_REFCOUNT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/base/optimization.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/source_location.h"
#include "rcu/version.h"

namespace rcu {

template <typename T>
class Ref;

template <typename T, typename Deleter = std::default_delete<T>>
class RefCounted {
 public:
  RefCounted(const RefCounted&) = delete;
  RefCounted& operator=(const RefCounted&) = delete;

  // RefCounted::TryAcquire()
  //
  // Takes a reference unless the count is zero (the object is dying): kref_get_unless_zero().
  // Requires: a section of the object's domain, or a reference, keeps the memory valid.
  [[nodiscard]] bool TryAcquire() const {
    uint32_t refs = refs_.load(std::memory_order_relaxed);
    while (refs != 0) {
      if (refs_.compare_exchange_weak(refs, refs + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }

  // RefCounted::Acquire()
  //
  // Takes another reference. Requires: the caller holds one (C1: never from zero).
  void Acquire(const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    if (ABSL_PREDICT_FALSE(refs_.fetch_add(1, std::memory_order_relaxed) == 0)) {
      internal::Die(where,
                    "C1: a reference taken on an object whose count already reached zero "
                    "(resurrection: it is being retired); use TryAcquire() / Ref<T>::TryFrom()");
    }
  }

  // RefCounted::Release()
  //
  // Drops a reference; the last one retires the object on its domain (Deleter runs after a
  // grace period). Requires: the caller holds the reference it drops (C2).
  void Release(const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    const uint32_t before = refs_.fetch_sub(1, std::memory_order_acq_rel);
    if (ABSL_PREDICT_FALSE(before == 0)) {
      internal::Die(where, "C2: a reference dropped twice (the count was already zero)");
    }
    if (before == 1) {
      domain_.template Retire<T, Deleter>(const_cast<T*>(static_cast<const T*>(this)), where);
    }
  }

  // The number of references: exact only when no other thread takes or drops one.
  uint32_t use_count() const { return refs_.load(std::memory_order_relaxed); }
  Domain& domain() const { return domain_; }

 protected:
  // One reference, the creator's. `domain`: where the object is retired; readers that find it
  // must be in sections of this domain.
  explicit RefCounted(Domain& domain = Domain::Default()) : domain_(domain) {}
  ~RefCounted() = default;

 private:
  mutable std::atomic<uint32_t> refs_{1};
  Domain& domain_;
};

template <typename T>
class Ref {
 public:
  Ref() = default;

  // Ref::Adopt()
  //
  // A handle that takes over a reference the caller holds (a new object's first reference).
  static Ref Adopt(T* object) { return Ref(object); }

  // Ref::TryFrom()
  //
  // A handle to `object`, found inside `guard`'s section, if it is not dying; empty otherwise.
  static Ref TryFrom(const ReadGuard& guard, const T* object,
                     const internal::SourceLocation& where = internal::SourceLocation::current()) {
    if (object == nullptr) return Ref();
    internal::CheckGuard(guard, object->domain(), "R1", "Ref::TryFrom()", where);
    return object->TryAcquire() ? Ref(const_cast<T*>(object)) : Ref();
  }

  Ref(const Ref& other) : object_(other.object_) {
    if (object_ != nullptr) object_->Acquire();
  }
  Ref(Ref&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  Ref& operator=(Ref other) noexcept {
    std::swap(object_, other.object_);
    return *this;
  }
  ~Ref() {
    if (object_ != nullptr) object_->Release();
  }

  T* get() const { return object_; }
  T& operator*() const { return *object_; }
  T* operator->() const { return object_; }
  explicit operator bool() const { return object_ != nullptr; }

  // Ref::Reset()
  //
  // Drops the reference now.
  void Reset() { Ref().swap(*this); }
  void swap(Ref& other) noexcept { std::swap(object_, other.object_); }

 private:
  explicit Ref(T* object) : object_(object) {}
  T* object_ = nullptr;
};

// MakeRef()
//
// Constructs a T (a RefCounted<T>) and returns the handle that owns its first reference.
template <typename T, typename... Args>
Ref<T> MakeRef(Args&&... args) {
  return Ref<T>::Adopt(new T(std::forward<Args>(args)...));
}

namespace internal {
template <typename V>
inline constexpr bool kIsRef = false;
template <typename T>
inline constexpr bool kIsRef<Ref<T>> = true;
}  // namespace internal

}  // namespace rcu

#endif  // RCU_REFCOUNT_H_
