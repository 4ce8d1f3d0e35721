// -----------------------------------------------------------------------------
// File: list.h
// -----------------------------------------------------------------------------
//
// RCU-protected linked lists, the kernel's `list_*_rcu`: readers traverse inside a read-side
// section without locks and never block; updaters (push front/back, insert after, erase, replace)
// are serialized by the list's own lock. Use a list for small collections that readers scan
// (subscriber lists, filter chains, ordered rule sets); for lookups by key use rcu::HashMap.
//
// Two forms:
//   rcu::List<T>              owns its elements; erased elements are retired (deleted after a
//                             grace period) by the list.
//   rcu::IntrusiveList<T>     links elements the caller owns, through a `rcu::ListHook` base, and
//                             never allocates; the caller retires what it erases.
//
// Read side:    `for (const T& x : list.Iterate(guard))` with a live ReadGuard on the list's
//               domain (R1/L4: no guard, no iteration). References stay valid until the guard's
//               outermost section ends. A reader sees each element at most once, in list order;
//               elements inserted or erased during the traversal may or may not be seen. A reader
//               standing on an element that is erased meanwhile still moves on to its successors
//               (L2: erase never breaks the erased element's forward link).
// Update side:  every update takes the list's UpdateMutex (L1: updaters can never race).
//               Nothing is retired under it: EraseIf/ReplaceIf hand the unlinked elements to
//               their callbacks after releasing it, so back-pressure (R12) never sleeps under
//               the lock, and a callback may update the list.
// Elements:     List<T> takes any T constructible from its arguments, move-only types included.
//               Pushes give the strong guarantee (the element is built before the lock is
//               taken); EraseIf/ReplaceIf the basic one (see there).
// Reclamation:  List<T>: erased and replaced elements are retired on the list's domain (L2: never
//               freed before a grace period); the destructor deletes what is still linked and
//               requires that no reader is still traversing. IntrusiveList<T>: the caller retires
//               erased elements; linking an element again before a grace period has passed since
//               its erase aborts with "L3:" (debug).
// Memory order: linking publishes the element with release order; readers load with acquire.
// Progress:     traversal is wait-free per step; updates block on the list's lock.
// Misuse:       L1 by construction, L2 by construction, L3 and L5 (IntrusiveList, debug; the
//               report names the caller's line), L4 = R1 (debug: a guard of another domain, and
//               an iterator stepped outside the section that created it).
//
// Example:
//   rcu::List<Route> routes;
//   routes.PushBack(Route{"10.0.0.0/8", "eth0"});
//
//   std::string Lookup(std::string_view prefix) {
//     rcu::ReadGuard guard;
//     for (const Route& r : routes.Iterate(guard)) {
//       if (r.prefix == prefix) return r.device;
//     }
//     return "";
//   }
//
//   routes.EraseIf([](const Route& r) { return r.device == "eth0"; });

#ifndef RCU_CONTAINERS_LIST_H_
#define RCU_CONTAINERS_LIST_H_

#include <atomic>
#include <cstddef>
#include <iterator>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "rcu/domain.h"
#include "rcu/internal/checker.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace rcu {

template <typename T, typename Tag>
class IntrusiveList;

// What a list iterator shows of an element: the element itself, unless a list says otherwise.
struct ListIdentity {
  template <typename T>
  const T& operator()(const T& element) const {
    return element;
  }
};

template <typename T, typename Tag, typename Project = ListIdentity>
class ListRange;

// The link an element of an IntrusiveList<T, Tag> carries, as a base class of T. One hook per
// list an element can be in; tell them apart with Tag.
template <typename Tag = void>
class ListHook {
 public:
  ListHook() = default;
  ListHook(const ListHook&) {}  // a copy is a new element: not linked
  ListHook& operator=(const ListHook&) { return *this; }

 private:
  template <typename T, typename U>
  friend class IntrusiveList;
  template <typename T, typename U, typename P>
  friend class ListRange;

  std::atomic<ListHook*> next_{nullptr};  // read by readers
  ListHook* prev_ = nullptr;              // updaters only
  const void* list_ = nullptr;            // the list it is linked in (L3, L5), or null
  GracePeriodCookie erased_;              // a grace period after the last erase (L3)
};

// The section a list range belongs to, in debug builds (L4: an iterator stepped in another one
// reads elements that may have been freed).
namespace internal {
struct ListSection {
#if RCU_DEBUG_CHECKS
  const Domain* domain = nullptr;
  SectionId id;
#endif
  void Check() const {
#if RCU_DEBUG_CHECKS
    if (domain != nullptr && CurrentSection(*domain) != id) {
      Die(SourceLocation::current(),
          "L4: a list iterator stepped outside the read-side section that created it (after it "
          "ended, or in a later section or another thread: its elements may have been freed)");
    }
#endif
  }
};
}  // namespace internal

// Forward iteration over a list inside a read-side section. Each element is shown as
// Project()(const T&): the element itself, or (for List<T>) the value it holds.
template <typename T, typename Tag, typename Project>
class ListRange {
  using Section = internal::ListSection;

 public:
  class iterator {
   public:
    using reference = decltype(Project()(std::declval<const T&>()));
    using value_type = std::remove_cvref_t<reference>;
    using iterator_category = std::forward_iterator_tag;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;

    iterator() = default;
    reference operator*() const { return Project()(*static_cast<const T*>(node_)); }
    pointer operator->() const { return &**this; }
    iterator& operator++() {
      if (internal::kDebugChecks) section_.Check();
      node_ = node_->next_.load(std::memory_order_acquire);
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) { return a.node_ == b.node_; }
    friend bool operator!=(const iterator& a, const iterator& b) { return a.node_ != b.node_; }

   private:
    friend class ListRange;
    iterator(const ListHook<Tag>* node, const Section& section) : node_(node), section_(section) {}
    const ListHook<Tag>* node_ = nullptr;
    Section section_;  // the section it belongs to (L4; debug builds)
  };

  // The same elements, shown through another projection.
  template <typename OtherProject>
  explicit ListRange(const ListRange<T, Tag, OtherProject>& other)
      : first_(other.first_), section_(other.section_) {}

  iterator begin() const { return iterator(first_, section_); }
  iterator end() const { return iterator(nullptr, section_); }

 private:
  template <typename U, typename V>
  friend class IntrusiveList;
  template <typename U, typename V, typename P>
  friend class ListRange;
  ListRange(const ListHook<Tag>* first, [[maybe_unused]] const Domain& domain) : first_(first) {
#if RCU_DEBUG_CHECKS
    section_ = {&domain, internal::CurrentSection(domain)};
#endif
  }
  const ListHook<Tag>* first_ = nullptr;
  Section section_;
};

template <typename T, typename Tag = void>
class IntrusiveList {
  static_assert(std::is_base_of_v<ListHook<Tag>, T>,
                "rcu::IntrusiveList<T, Tag>: T must derive from rcu::ListHook<Tag>");

 public:
  explicit IntrusiveList(Domain& domain = Domain::Default()) : domain_(domain) {}
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  // IntrusiveList::Iterate()
  //
  // The elements, for traversal inside `guard`'s section.
  // Requires: `guard` holds a section of this list's domain (R1; checked in debug builds).
  ListRange<T, Tag> Iterate(const ReadGuard& guard, const internal::SourceLocation& where =
                                                        internal::SourceLocation::current()) const {
    internal::CheckGuard(guard, domain_, "L4", "list traversed", where);
    return ListRange<T, Tag>(head_.next_.load(std::memory_order_acquire), domain_);
  }

  // IntrusiveList::PushFront() / PushBack()
  //
  // Links `element` first / last. Requires: `element` is not linked, and a grace period has
  // passed since it was last erased (L3).
  void PushFront(T& element,
                 const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    UpdateLock lock(mu_);
    LinkAfter(&head_, Hook(element), where);
  }
  void PushBack(T& element,
                const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    UpdateLock lock(mu_);
    LinkAfter(tail_ != nullptr ? tail_ : &head_, Hook(element), where);
  }

  // IntrusiveList::InsertAfter()
  //
  // Links `element` after `position`. Requires: `position` is linked in this list; `element` as
  // for PushFront().
  void InsertAfter(T& position, T& element,
                   const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    UpdateLock lock(mu_);
    CheckLinked(Hook(position), where);
    LinkAfter(Hook(position), Hook(element), where);
  }

  // IntrusiveList::Erase()
  //
  // Unlinks `element` (list_del_rcu). Readers that already reached it can still step past it.
  // The caller retires it (Domain::Retire or Domain::Call) and must not link it again before a
  // grace period. Requires: `element` is linked in this list.
  void Erase(T& element,
             const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    UpdateLock lock(mu_);
    Unlink(Hook(element), where);
  }

  // IntrusiveList::Replace()
  //
  // Puts `replacement` where `old` is, in one step for readers (list_replace_rcu): a reader sees
  // one or the other, never neither. `old` is unlinked as by Erase().
  void Replace(T& old, T& replacement,
               const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    UpdateLock lock(mu_);
    ReplaceLocked(Hook(old), Hook(replacement), where);
  }

  // IntrusiveList::ReplaceIf()
  //
  // For every element for which `pred(const T&)` is true, links `*make(const T&)` (a new
  // element) in its place as Replace() does. Then, after the list's lock is released, calls
  // `on_replaced(T& old)` for each replaced element, in list order (to retire it: back-pressure
  // may sleep there, and a callback may update the list). Returns how many. `pred` and `make`
  // run under the lock. Basic guarantee: if `pred` or `make` throws, the elements replaced so far
  // stay replaced and still go to `on_replaced`, and the exception propagates.
  template <typename Pred, typename Make, typename OnReplaced>
  size_t ReplaceIf(Pred pred, Make make, OnReplaced on_replaced,
                   const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    const auto replace = [&](ListHook<Tag>* n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      ReplaceLocked(n, Hook(*make(static_cast<const T&>(*static_cast<T*>(n)))), where);
    };
    return ForEachMatchThenHandOver(pred, replace, on_replaced);
  }

 private:
  void ReplaceLocked(ListHook<Tag>* o, ListHook<Tag>* r, const internal::SourceLocation& where)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CheckLinked(o, where);
    CheckLinkable(r, where);
    r->prev_ = o->prev_;
    r->next_.store(o->next_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    r->list_ = this;
    o->prev_->next_.store(r, std::memory_order_release);
    if (ListHook<Tag>* next = r->next_.load(std::memory_order_relaxed)) {
      next->prev_ = r;
    } else {
      tail_ = r;
    }
    MarkErased(o);
  }

 public:
  // IntrusiveList::EraseIf()
  //
  // Unlinks every element for which `pred` is true; then, after the list's lock is released,
  // calls `on_erased(T&)` for each, in list order (to retire it). Returns how many. `pred` runs
  // under the lock. Basic guarantee, as for ReplaceIf().
  template <typename Pred, typename OnErased>
  size_t EraseIf(Pred pred, OnErased on_erased,
                 const internal::SourceLocation& where = internal::SourceLocation::current())
      ABSL_LOCKS_EXCLUDED(mu_) {
    const auto erase = [&](ListHook<Tag>* n)
                           ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { Unlink(n, where); };
    return ForEachMatchThenHandOver(pred, erase, on_erased);
  }

  // IntrusiveList::size() / empty()
  //
  // Exact for updaters; a snapshot for readers.
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  bool empty() const { return size() == 0; }

  Domain& domain() const { return domain_; }

 private:
  static ListHook<Tag>* Hook(T& element) { return static_cast<ListHook<Tag>*>(&element); }

  // Under the lock, applies `unlink` (which unlinks the element, by erasing or replacing it) to
  // every element for which `pred` is true; then, without the lock, hands each unlinked element
  // to `hand_over`, in list order, also when `pred` or `unlink` threw. The unlinked elements are
  // chained through their `prev_` (unused once unlinked; no allocation).
  template <typename Pred, typename Unlinker, typename HandOver>
  size_t ForEachMatchThenHandOver(Pred& pred, const Unlinker& unlink, HandOver& hand_over)
      ABSL_LOCKS_EXCLUDED(mu_) {
    ListHook<Tag>* first = nullptr;
    ListHook<Tag>* last = nullptr;
    size_t count = 0;
    const auto hand_all_over = [&] {
      for (ListHook<Tag>* h = first; h != nullptr;) {
        ListHook<Tag>* next = h->prev_;
        h->prev_ = nullptr;
        hand_over(*static_cast<T*>(h));  // may free `h`
        h = next;
      }
    };
    try {
      UpdateLock lock(mu_);
      for (ListHook<Tag>* n = head_.next_.load(std::memory_order_relaxed); n != nullptr;) {
        ListHook<Tag>* next = n->next_.load(std::memory_order_relaxed);
        if (pred(static_cast<const T&>(*static_cast<T*>(n)))) {
          unlink(n);
          (last == nullptr ? first : last->prev_) = n;
          last = n;
          ++count;
        }
        n = next;
      }
    } catch (...) {
      hand_all_over();
      throw;
    }
    hand_all_over();
    return count;
  }

  // L5: Erase, Replace and InsertAfter name an element linked in this list.
  void CheckLinked(const ListHook<Tag>* h, const internal::SourceLocation& where) const {
    if (internal::kDebugChecks && h->list_ != this) {
      internal::Die(where,
                    "L5: list update names an element that is not linked in this list (never "
                    "linked, erased already, or in another list)");
    }
  }

  void CheckLinkable(const ListHook<Tag>* h, const internal::SourceLocation& where) const {
    if (!internal::kDebugChecks) return;
    if (h->list_ != nullptr) {
      internal::Die(where, "L3: element linked twice (it is already in a list)");
    }
    if (!domain_.PollState(h->erased_)) {
      internal::Die(where,
                    "L3: element re-inserted before a grace period passed since its erase: "
                    "readers may still be traversing it in its old position");
    }
  }

  void LinkAfter(ListHook<Tag>* prev, ListHook<Tag>* h, const internal::SourceLocation& where)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CheckLinkable(h, where);
    ListHook<Tag>* next = prev->next_.load(std::memory_order_relaxed);
    h->prev_ = prev;
    h->next_.store(next, std::memory_order_relaxed);
    h->list_ = this;
    prev->next_.store(h, std::memory_order_release);  // publish
    if (next != nullptr) {
      next->prev_ = h;
    } else {
      tail_ = h;
    }
    size_.fetch_add(1, std::memory_order_relaxed);
  }

  void Unlink(ListHook<Tag>* h, const internal::SourceLocation& where)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CheckLinked(h, where);
    ListHook<Tag>* next = h->next_.load(std::memory_order_relaxed);
    h->prev_->next_.store(next, std::memory_order_release);
    if (next != nullptr) {
      next->prev_ = h->prev_;
    } else {
      tail_ = h->prev_ == &head_ ? nullptr : h->prev_;
    }
    // h->next_ stays: a reader standing on h still reaches the rest of the list.
    MarkErased(h);
    size_.fetch_sub(1, std::memory_order_relaxed);
  }

  void MarkErased(ListHook<Tag>* h) {
    h->list_ = nullptr;
    h->prev_ = nullptr;
    if (internal::kDebugChecks) h->erased_ = domain_.GetState();
  }

  Domain& domain_;
  mutable UpdateMutex mu_;
  ListHook<Tag> head_;                                  // sentinel: head_.next_ is the first
  ListHook<Tag>* tail_ ABSL_GUARDED_BY(mu_) = nullptr;  // null when empty
  std::atomic<size_t> size_{0};
};

// An owning list of T. Elements are created by the list and retired by it.
template <typename T>
class List {
  struct Node : ListHook<> {
    template <typename... Args>
    explicit Node(Args&&... args) : value(std::forward<Args>(args)...) {}
    const T value;  // readers get const: update by Replace()
  };

 public:
  struct ValueOf {
    const T& operator()(const Node& node) const { return node.value; }
  };
  using Range = ListRange<Node, void, ValueOf>;

  explicit List(Domain& domain = Domain::Default()) : list_(domain) {}
  List(const List&) = delete;
  List& operator=(const List&) = delete;

  // List::~List()
  //
  // Deletes the elements still in the list at once. Requires: no reader is traversing it.
  ~List() {
    list_.EraseIf([](const Node&) { return true; }, [](Node& n) { delete &n; });
  }

  // List::Iterate()
  //
  // See IntrusiveList::Iterate().
  Range Iterate(const ReadGuard& guard,
                const internal::SourceLocation& where = internal::SourceLocation::current()) const {
    return Range(list_.Iterate(guard, where));
  }

  template <typename... Args>
  void EmplaceFront(Args&&... args) {
    list_.PushFront(*new Node(std::forward<Args>(args)...));
  }
  template <typename... Args>
  void EmplaceBack(Args&&... args) {
    list_.PushBack(*new Node(std::forward<Args>(args)...));
  }
  void PushFront(T value,
                 const internal::SourceLocation& where = internal::SourceLocation::current()) {
    list_.PushFront(*new Node(std::move(value)), where);
  }
  void PushBack(T value,
                const internal::SourceLocation& where = internal::SourceLocation::current()) {
    list_.PushBack(*new Node(std::move(value)), where);
  }

  // List::EraseIf()
  //
  // Erases every element for which `pred(const T&)` is true and retires it; returns how many.
  template <typename Pred>
  size_t EraseIf(Pred pred,
                 const internal::SourceLocation& where = internal::SourceLocation::current()) {
    Domain& domain = list_.domain();
    return list_.EraseIf([&](const Node& n) { return pred(n.value); },
                         [&](Node& n) { domain.Retire(&n, where); }, where);
  }

  // List::ReplaceIf()
  //
  // Replaces every element for which `pred(const T&)` is true with `make(const T&)` (a new T,
  // typically a modified copy), in place for readers (list_replace_rcu), and retires the old
  // element. Returns how many.
  template <typename Pred, typename Make>
  size_t ReplaceIf(Pred pred, Make make,
                   const internal::SourceLocation& where = internal::SourceLocation::current()) {
    Domain& domain = list_.domain();
    return list_.ReplaceIf([&](const Node& n) { return pred(n.value); },
                           [&](const Node& n) { return new Node(make(n.value)); },
                           [&](Node& n) { domain.Retire(&n, where); }, where);
  }

  size_t size() const { return list_.size(); }
  bool empty() const { return list_.empty(); }

 private:
  IntrusiveList<Node, void> list_;
};

}  // namespace rcu

#endif  // RCU_CONTAINERS_LIST_H_
