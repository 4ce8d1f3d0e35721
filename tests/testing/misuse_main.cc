// main() of the misuse tests. Most of the rules they show firing are checked only when
// RCU_DEBUG_CHECKS is on (rcu/internal/options.h), which optimized builds (-c opt, CMake Release)
// turn off: there every test of the binary is reported skipped, not failed, and the binary still
// builds, so the optimized configuration compiles every file.

#include "gtest/gtest.h"
#include "rcu/internal/checker.h"

namespace {

class SkipWithoutDebugChecks : public testing::Environment {
 public:
  void SetUp() override {
    GTEST_SKIP() << "these tests need RCU_DEBUG_CHECKS, which this build turns off";
  }
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (!rcu::internal::kDebugChecks) testing::AddGlobalTestEnvironment(new SkipWithoutDebugChecks);
  return RUN_ALL_TESTS();
}
