// rcu/refcount.h misuse: C1 (a reference taken from zero: resurrection, the increment that does
// not check for zero) and C2 (a reference dropped twice). Each runs the correct use, which must
// pass, and the broken one, which must abort with the rule id.

#include <atomic>

#include "gtest/gtest.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "rcu/refcount.h"

namespace rcu {
namespace {

struct Object : RefCounted<Object> {
  explicit Object(Domain& domain) : RefCounted(domain) {}
};

// A reader found `found` in its section after its last reference was dropped. `busted` takes the
// reference without checking for zero (Acquire), as the torture test's busted flavor does.
bool TakeReference(const ReadGuard& guard, const Object* found, bool busted) {
  if (busted) {
    found->Acquire();  // BUG (C1): resurrects a dying object
    return true;
  }
  return static_cast<bool>(Ref<Object>::TryFrom(guard, found));
}

TEST(RefCountMisuseTest, C1ResurrectingADyingObjectAborts) {
  Domain domain;
  Published<Object> current(domain, nullptr);
  Ref<Object> owner = MakeRef<Object>(domain);
  current.Assign(owner.get());
  ReadGuard guard(domain);
  const Object* found = current.Read(guard);
  current.Assign(nullptr);
  owner.Reset();
  EXPECT_FALSE(TakeReference(guard, found, /*busted=*/false));
  EXPECT_DEATH(TakeReference(guard, found, /*busted=*/true),
               "C1: a reference taken on an object whose count already reached zero");
}

TEST(RefCountMisuseTest, C2DroppingAReferenceTwiceAborts) {
  Domain domain;
  Ref<Object> owner = MakeRef<Object>(domain);
  Object* raw = owner.get();
  raw->Acquire();
  raw->Release();  // correct: a reference taken and dropped
  // The section keeps the retired object's memory until it ends, so the second drop finds the
  // count at zero (after the object is freed, a double drop is a use-after-free for ASan).
  EXPECT_DEATH(
      {
        ReadGuard guard(domain);
        raw->Release();  // drops the owner's reference behind its back: retired...
        raw->Release();  // BUG (C2): ...and dropped again
      },
      "C2: a reference dropped twice");
}

}  // namespace
}  // namespace rcu
