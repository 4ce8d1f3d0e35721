// -----------------------------------------------------------------------------
// File: seqlock.h
// -----------------------------------------------------------------------------
//
// RCU's twin: a sequence count. Readers never block a writer and never write: they take copies of
// small fields and then ask whether a writer overlapped the copying ("take lots of photos, throw
// away the blurred ones"); a writer updates the fields in place, bracketed by two increments of
// the count. Use it for small fields that change too often to replace the whole object under RCU
// (counters, timestamps, a state word), typically inside an object whose existence RCU guards:
// the kernel's rcu-walk, where RCU keeps the dentry alive and a seqcount says whether the fields
// copied from it belong together.
//
//   rcu::SeqField<T>  a field protected by a sequence count. T is trivially copyable. It is
//                     stored as relaxed atomic words, so a copy that races with a write is not a
//                     data race (undefined behaviour) but a torn value that validation discards
//                     (the byte-wise atomic copy that P1478 proposes). Readers get at it only
//                     through a SeqReader, writers only through a SeqWriteGuard: a field read
//                     outside a region does not compile.
//   rcu::SeqCount     the count alone. Writers must hold the UpdateMutex it was built with (S3):
//                     exclusion is the caller's, as with the kernel's seqcount_t.
//   rcu::SeqLock      a SeqCount with its own UpdateMutex (the kernel's seqlock_t).
//   rcu::SeqReader    one reader: Copy() fields, then Validate(); Use() a copy only after the
//                     Validate() that covered it returned true.
//   rcu::SeqWriteGuard one write: stores fields in place (names the mutex it holds), and loads
//                     them for a read-modify-write.
//   rcu::SeqRead()    the common case: a consistent copy of one field.
//
// Read side:    SeqReader r(seq); do { a = r.Copy(x); b = r.Copy(y); } while (!r.Validate());
//               then r.Use(a), r.Use(b). Copies made after a Validate() belong to a new region,
//               which the next Validate() covers. Wait-free except while a writer is inside,
//               when Copy() waits for it to leave (writes are short); it never writes shared
//               memory. A reader may give up at any time: Abandon() says its copies are dropped.
// Update side:  SeqWriteGuard w(seq, mu) (holding `mu`, the SeqCount's mutex) or
//               SeqLock::WriteGuard w(lock); w.Store(x, value). Writers exclude each other through
//               the mutex; readers that overlap a write retry.
// Memory order: the writer makes the count odd, fences (release), stores the fields, and makes it
//               even again (release); the reader loads the count (acquire, [Q1]), copies, fences
//               (acquire, [Q2]) and loads it again. [Q1] pairs with the writer's closing store: a
//               region that starts after a write sees all of it. [Q2] pairs with the writer's
//               opening fence: a region whose copies saw any store of a write sees that write's
//               odd count on its second load, and fails (Boehm, "Can seqlocks get along with
//               programming language memory models?", 2012).
// Misuse:       S1 a region's copies neither validated nor abandoned (the seed's read_seqbegin
//               with no read_seqretry): debug check when the reader is destroyed. S2 a copy used
//               when the Validate() that covers it failed or has not happened (the seed's d_inode,
//               read after the region that validated it): debug check in Use(). S3 a write
//               without the SeqCount's mutex: compile time under clang's -Wthread-safety (the
//               guard names the mutex it holds), debug check otherwise (held, and the
//               SeqCount's own). S4 a field read or written under two SeqCounts: debug check
//               (a field belongs to the first count that touches it). S5 a read region begun
//               inside the thread's own write of the same count (it would wait forever): checked
//               in every build. A copy used through another SeqReader than its own: S2. A field
//               read outside a region: compile time (no accessor). Nested SeqWriteGuards on one
//               count (a helper that writes, called from a write) are one write for readers.
//
// Example (inside an RCU-protected entry that is never replaced for these updates):
//   struct Neighbor {
//     mutable rcu::SeqLock lock;
//     mutable rcu::SeqField<absl::Time> last_confirmed;
//   };
//   absl::Time LastConfirmed(const Neighbor& n) {  // inside a ReadGuard: RCU keeps n alive
//     return rcu::SeqRead(n.lock, n.last_confirmed);
//   }
//   void Confirm(const Neighbor& n, absl::Time now) {
//     rcu::SeqLock::WriteGuard w(n.lock);
//     w.Store(n.last_confirmed, now);
//   }

#ifndef RCU_SEQLOCK_H_
#define RCU_SEQLOCK_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "rcu/internal/checker.h"
#include "rcu/internal/source_location.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {

class SeqCount;
class SeqReader;
class SeqWriteGuard;

template <typename T>
class SeqField {
  static_assert(std::is_trivially_copyable_v<T>, "SeqField<T>: T must be trivially copyable");

 public:
  SeqField() : SeqField(T{}) {}
  explicit SeqField(const T& value) { Store(value); }
  SeqField(const SeqField&) = delete;
  SeqField& operator=(const SeqField&) = delete;

 private:
  friend class SeqReader;
  friend class SeqWriteGuard;
  static constexpr size_t kWords = (sizeof(T) + sizeof(uint64_t) - 1) / sizeof(uint64_t);

  // S4: a field belongs to the first SeqCount that reads or writes it (debug builds).
  void CheckOwner(const SeqCount* count, const internal::SourceLocation& where) const {
#if RCU_DEBUG_CHECKS
    const SeqCount* owner = nullptr;
    if (!owner_.compare_exchange_strong(owner, count, std::memory_order_relaxed) &&
        owner != count) {
      internal::Die(where,
                    "S4: a SeqField read or written under another SeqCount than the one it "
                    "was first used with (its copies would be validated against the wrong "
                    "writes)");
    }
#else
    (void)count;
    (void)where;
#endif
  }

  T Load() const {
    uint64_t words[kWords];
    for (size_t i = 0; i < kWords; ++i) words[i] = words_[i].load(std::memory_order_relaxed);
    T value;
    std::memcpy(&value, words, sizeof(T));
    return value;
  }
  void Store(const T& value) {
    uint64_t words[kWords] = {};
    std::memcpy(words, &value, sizeof(T));
    for (size_t i = 0; i < kWords; ++i) words_[i].store(words[i], std::memory_order_relaxed);
  }

  std::atomic<uint64_t> words_[kWords];
#if RCU_DEBUG_CHECKS
  mutable std::atomic<const SeqCount*> owner_{nullptr};
#endif
};

class SeqCount {
 public:
  // `writers`: the mutex every writer holds (S3).
  explicit SeqCount(UpdateMutex& writers) : writers_(writers) {}
  SeqCount(const SeqCount&) = delete;
  SeqCount& operator=(const SeqCount&) = delete;

  UpdateMutex& writers() const ABSL_LOCK_RETURNED(writers_) { return writers_; }

 private:
  friend class SeqReader;
  friend class SeqWriteGuard;
  // Even: no write in progress. Odd: a writer is between its two increments.
  std::atomic<uint64_t> sequence_{0};
  UpdateMutex& writers_;
  // Open SeqWriteGuards (under writers_): only the outermost one moves the count, so a write
  // nested in another stays inside it for readers.
  uint32_t write_depth_ = 0;
};

class SeqLock {
 public:
  SeqLock() = default;
  SeqLock(const SeqLock&) = delete;
  SeqLock& operator=(const SeqLock&) = delete;

  // A write: takes the lock, then writes (SeqWriteGuard).
  class WriteGuard;

  const SeqCount& count() const { return count_; }
  SeqCount& count() { return count_; }

 private:
  UpdateMutex mu_;
  SeqCount count_{mu_};
};

// A copy taken in a reader's region; usable through SeqReader::Use() once validated.
template <typename T>
class SeqCopy {
 public:
  SeqCopy() = default;

 private:
  friend class SeqReader;
  SeqCopy(const T& value, uint64_t region, const SeqReader* reader)
      : value_(value), region_(region), reader_(reader) {}
  T value_{};
  uint64_t region_ = 0;                // 0: never copied
  const SeqReader* reader_ = nullptr;  // whose regions region_ counts (S2)
};

class SeqReader {
 public:
  explicit SeqReader(const SeqCount& count,
                     const internal::SourceLocation& where = internal::SourceLocation::current())
      : count_(count), where_(where) {}
  explicit SeqReader(const SeqLock& lock,
                     const internal::SourceLocation& where = internal::SourceLocation::current())
      : SeqReader(lock.count(), where) {}
  SeqReader(const SeqReader&) = delete;
  SeqReader& operator=(const SeqReader&) = delete;

  // S1: copies of the current region must be validated or abandoned.
  ~SeqReader() {
    if (internal::kDebugChecks && open_) {
      internal::Die(where_,
                    "S1: a seqcount read region copied fields and was never validated (a "
                    "read_seqbegin() without read_seqretry()); call Validate(), or Abandon()");
    }
  }

  // SeqReader::Copy()
  //
  // A copy of `field`, in the current region (beginning one, and waiting for a writer inside to
  // leave, if none is open).
  // Requires: `field` is read and written under this reader's SeqCount only (S4; debug).
  template <typename T>
  SeqCopy<T> Copy(const SeqField<T>& field,
                  const internal::SourceLocation& where = internal::SourceLocation::current()) {
    field.CheckOwner(&count_, where);
    if (!open_) Begin(where);
    return SeqCopy<T>(field.Load(), region_, this);
  }

  // SeqReader::Validate()
  //
  // Ends the current region: true if no writer overlapped it, so its copies belong together and
  // may be used (with the copies of earlier validated regions); false if one did, and every copy
  // taken so far must be taken again (the next Copy() begins a new region). Validating with no
  // region open returns true.
  [[nodiscard]] bool Validate() {
    if (!open_) return true;
    std::atomic_thread_fence(std::memory_order_acquire);  // [Q2]
    const bool valid = count_.sequence_.load(std::memory_order_relaxed) == begin_;
    (valid ? validated_ : failed_) = region_;
    open_ = false;
    return valid;
  }

  // SeqReader::Use()
  //
  // The value of a copy whose region Validate() found consistent.
  template <typename T>
  const T& Use(const SeqCopy<T>& copy,
               const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    if (internal::kDebugChecks && (copy.region_ <= failed_ || copy.region_ > validated_)) {
      internal::Die(where,
                    "S2: a seqcount copy used without a successful Validate() of its region (a "
                    "field used after validation failed, or read after the region that "
                    "validated it)");
    }
    if (internal::kDebugChecks && copy.reader_ != this) {
      internal::Die(where,
                    "S2: a seqcount copy used through another SeqReader than the one that "
                    "copied it (its region was never validated by this one)");
    }
    return copy.value_;
  }

  // SeqReader::Abandon()
  //
  // Drops the current region's copies unused: the seed's "check out any time" (an error path
  // that returns from the middle of the loop).
  void Abandon() {
    if (open_) failed_ = region_;
    open_ = false;
  }

 private:
  void Begin(const internal::SourceLocation& where) {
    uint64_t seen;
    for (int spins = 0; ((seen = count_.sequence_.load(std::memory_order_acquire)) & 1) != 0;
         ++spins) {  // [Q1]
      // S5 (every build: it would hang): only the mutex holder writes, so a write in progress
      // with the mutex held by this thread is this thread's own.
      if (spins == 0 && count_.writers_.HeldByCurrentThread()) {
        internal::Die(where,
                      "S5: a seqcount read region begun inside the thread's own write of the "
                      "same SeqCount (it would wait forever for that write to end); read the "
                      "field with SeqWriteGuard::Load()");
      }
      if (spins >= 64) std::this_thread::yield();
    }
    begin_ = seen;
    open_ = true;
    ++region_;
  }

  const SeqCount& count_;
  const internal::SourceLocation where_;
  uint64_t begin_ = 0;
  // Regions begun so far (copies carry theirs; 0 is no region). A copy is usable if its region
  // was validated and no later region failed or was abandoned: a failure means a writer came by,
  // and every earlier copy is to be taken again.
  uint64_t region_ = 0;
  uint64_t validated_ = 0;  // the last region Validate() found consistent
  uint64_t failed_ = 0;     // the last region that failed validation or was abandoned
  bool open_ = false;       // a region began (by a Copy()) and was not yet validated or abandoned
};

class SeqWriteGuard {
 public:
  // Begins a write. Requires: the calling thread holds `writers`, the mutex `count` was built
  // with (S3; clang's -Wthread-safety checks the first half at compile time, as for
  // Published<T>::Protected(mu)).
  SeqWriteGuard(SeqCount& count, UpdateMutex& writers,
                const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(writers)
      : count_(count) {
    if (internal::kDebugChecks && (&writers != &count.writers_ || !writers.HeldByCurrentThread())) {
      internal::Die(where,
                    "S3: a seqcount write without holding its writers' mutex (two writers would "
                    "interleave and readers could validate a mix of both)");
    }
    if (count_.write_depth_++ != 0) return;  // nested: the outermost write brackets it
    const uint64_t s = count_.sequence_.load(std::memory_order_relaxed);
    count_.sequence_.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);  // [Q2]
  }
  ~SeqWriteGuard() {
    if (--count_.write_depth_ != 0) return;
    count_.sequence_.store(count_.sequence_.load(std::memory_order_relaxed) + 1,
                           std::memory_order_release);  // [Q1]
  }
  SeqWriteGuard(const SeqWriteGuard&) = delete;
  SeqWriteGuard& operator=(const SeqWriteGuard&) = delete;

  // SeqWriteGuard::Store()
  //
  // Writes `field` in place; readers that overlap retry.
  // Requires: `field` belongs to this guard's SeqCount (S4; debug).
  template <typename T>
  void Store(SeqField<T>& field, const T& value,
             const internal::SourceLocation& where = internal::SourceLocation::current()) {
    field.CheckOwner(&count_, where);
    field.Store(value);
  }

  // SeqWriteGuard::Load()
  //
  // The field's current value, for a read-modify-write: the writers' mutex keeps it from
  // changing. (A SeqReader here would wait for this very write to end: S5.)
  template <typename T>
  T Load(const SeqField<T>& field,
         const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    field.CheckOwner(&count_, where);
    return field.Load();
  }

 private:
  SeqCount& count_;
};

class ABSL_SCOPED_LOCKABLE SeqLock::WriteGuard {
 public:
  explicit WriteGuard(SeqLock& lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock.mu_)
      : lock_(lock.mu_), write_(lock.count_, lock.mu_) {}
  ~WriteGuard() ABSL_UNLOCK_FUNCTION() = default;

  template <typename T>
  void Store(SeqField<T>& field, const T& value,
             const internal::SourceLocation& where = internal::SourceLocation::current()) {
    write_.Store(field, value, where);
  }
  template <typename T>
  T Load(const SeqField<T>& field,
         const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    return write_.Load(field, where);
  }

 private:
  UpdateLock lock_;
  SeqWriteGuard write_;
};

// SeqRead()
//
// A consistent copy of one field: copies until no writer overlapped the copy.
template <typename T>
T SeqRead(const SeqCount& count, const SeqField<T>& field,
          const internal::SourceLocation& where = internal::SourceLocation::current()) {
  SeqReader reader(count, where);
  SeqCopy<T> copy;
  do {
    copy = reader.Copy(field, where);
  } while (!reader.Validate());
  return reader.Use(copy, where);
}
template <typename T>
T SeqRead(const SeqLock& lock, const SeqField<T>& field,
          const internal::SourceLocation& where = internal::SourceLocation::current()) {
  return SeqRead(lock.count(), field, where);
}

}  // namespace rcu

#endif  // RCU_SEQLOCK_H_
