// The containers' retire batch (containers/internal/retire_batch.h): nothing reaches the domain
// before Submit() or the batch's end, everything does then, exactly once and in order, also when
// the update that filled it ends with an exception.

#include "rcu/containers/internal/retire_batch.h"

#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/callback.h"
#include "rcu/domain.h"

namespace rcu::container_internal {
namespace {

std::vector<int>* order = nullptr;  // what callbacks and deleters ran, in order

struct Counted {
  int id;
  ~Counted() { order->push_back(id); }
};

struct Block {
  CallbackHead head;
  int id;
  static void Retired(CallbackHead* head) {
    Block* b = reinterpret_cast<Block*>(head);
    order->push_back(b->id);
    delete b;
  }
};

class RetireBatchTest : public testing::Test {
 protected:
  void SetUp() override { order = &ran_; }
  void TearDown() override { order = nullptr; }
  uint64_t Queued() const { return domain_.Stats().callbacks_queued; }

  Domain domain_;
  std::vector<int> ran_;
};

TEST_F(RetireBatchTest, NothingIsQueuedBeforeSubmitEverythingAfterInOrder) {
  const uint64_t before = Queued();
  RetireBatch<2> retired(domain_, internal::SourceLocation::current());
  retired.Retire(new Counted{1});
  retired.Call(&(new Block{{}, 2})->head, &Block::Retired);
  retired.Retire(new Counted{3});  // past the inline room: allocates
  retired.Retire(static_cast<Counted*>(nullptr));
  EXPECT_EQ(retired.size(), 3u);
  EXPECT_EQ(Queued(), before);  // a lock held now would not be held while the domain is called
  retired.Submit();
  EXPECT_TRUE(retired.empty());
  EXPECT_EQ(Queued(), before + 3);
  domain_.Barrier();
  EXPECT_EQ(ran_, (std::vector<int>{1, 2, 3}));
}

TEST_F(RetireBatchTest, TheEndOfTheBatchSubmitsAlsoWhenAnUpdateThrows) {
  EXPECT_THROW(
      {
        RetireBatch<> retired(domain_, internal::SourceLocation::current());
        retired.Retire(new Counted{7});
        throw std::runtime_error("the update failed after unlinking");
      },
      std::runtime_error);
  domain_.Barrier();
  EXPECT_EQ(ran_, std::vector<int>{7});
}

}  // namespace
}  // namespace rcu::container_internal
