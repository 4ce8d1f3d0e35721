// The plugin of examples/plugin_unload: it queues RCU callbacks whose code lives here, in the
// shared object. It does not link the RCU library: the host hands it a function that queues a
// callback on the host's domain (one RCU runtime per process), and it uses only the header-only
// rcu::CallbackHead.

#include <atomic>

#include "rcu/callback.h"

namespace {

struct Work {
  rcu::CallbackHead head;
  std::atomic<int>* done;
};

// Runs on the host's callback thread, from this shared object's code.
void Finish(rcu::CallbackHead* head) {
  Work* work = rcu::ContainerOf(head, &Work::head);
  work->done->fetch_add(1);
  delete work;
}

}  // namespace

// Queues `n` callbacks through `queue`; each increments `*done` when it runs.
extern "C" void PluginQueueWork(void (*queue)(rcu::CallbackHead*, void (*)(rcu::CallbackHead*)),
                                int n, std::atomic<int>* done) {
  for (int i = 0; i < n; ++i) queue(&(new Work{{}, done})->head, &Finish);
}
