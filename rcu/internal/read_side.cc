#include "rcu/internal/read_side.h"

namespace rcu::internal {

void ReadSide::CheckEnd(ThreadState* s, ReaderLine* outermost, const SourceLocation& where) {
  if (ABSL_PREDICT_FALSE(s != registry_.FindMine())) {
    Die(where,
        "R5: bad unlock balance: read-side section ended on another thread than the one "
        "that entered it");
  }
  const uint32_t depth = s->reader.debug_depth;
  if (ABSL_PREDICT_FALSE(depth == 0)) Die(where, "R5: bad unlock balance: section ended twice");
  if (ABSL_PREDICT_FALSE(depth != 1 && outermost != nullptr)) {
    Die(where,
        "R5: bad unlock balance: the outermost read-side section ended while a section "
        "nested in it is still open");
  }
  s->reader.debug_depth = depth - 1;
}

void ReadSide::ExitSlowPath(ReaderLine& reader) {
  LightFence(light());  // [F2] light, for fallback readers
  if ((reader.exit.load(std::memory_order_relaxed) & kWakeRequested) == 0) return;
  reader.exit.fetch_and(~kWakeRequested, std::memory_order_relaxed);  // once per sleep
  registry_.WakeWaiter();
}

}  // namespace rcu::internal
