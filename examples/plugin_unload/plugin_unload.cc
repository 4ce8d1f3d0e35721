// plugin_unload: the seed's module-unload lesson in userspace.
//
// A plugin loaded with dlopen() queues RCU callbacks whose code lives in the plugin. Unloading it
// with dlclose() before those callbacks ran leaves the domain's callback thread calling into
// unmapped code: a crash. The right sequence is the kernel's for modules:
//
//   1. stop queueing (the plugin is told to stop, or simply no longer called);
//   2. domain.Barrier(): every callback queued before it has run;
//   3. dlclose().
//
//   plugin_unload <path/to/libplugin.so>                  # the right sequence: prints OK
//   plugin_unload <path/to/libplugin.so> --skip-barrier   # dlclose first: crashes (on purpose)

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>

#include "rcu/callback.h"
#include "rcu/domain.h"

namespace {

using QueueFn = void (*)(rcu::CallbackHead*, void (*)(rcu::CallbackHead*));
using PluginQueueWork = void (*)(QueueFn, int, std::atomic<int>*);

rcu::Domain& domain = rcu::Domain::Default();

void Queue(rcu::CallbackHead* head, void (*func)(rcu::CallbackHead*)) { domain.Call(head, func); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <libplugin.so> [--skip-barrier]\n", argv[0]);
    return 2;
  }
  const bool skip_barrier = argc > 2 && std::strcmp(argv[2], "--skip-barrier") == 0;
  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (plugin == nullptr) {
    std::fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  auto queue_work = reinterpret_cast<PluginQueueWork>(dlsym(plugin, "PluginQueueWork"));
  constexpr int kCallbacks = 1000;
  std::atomic<int> done{0};
  {
    // A reader inside a section keeps the callbacks pending while we decide what to do next, so
    // the wrong order below is a certain crash, not a lucky race.
    std::atomic<bool> inside{false}, release{false};
    std::thread reader([&] {
      rcu::ReadGuard guard(domain);
      inside.store(true);
      while (!release.load()) std::this_thread::yield();
    });
    while (!inside.load()) std::this_thread::yield();
    queue_work(&Queue, kCallbacks, &done);  // 1. the plugin's last work
    if (skip_barrier) {
      std::printf(
          "dlclose() with %d callbacks still queued: the callback thread will call into "
          "unmapped code\n",
          kCallbacks - done.load());
      std::fflush(stdout);
      dlclose(plugin);  // BUG: their code goes away
      plugin = nullptr;
    }
    release.store(true);
    reader.join();
  }
  domain.Barrier();  // 2. every callback queued before this has run
  std::printf("%d of %d plugin callbacks ran before unload\n", done.load(), kCallbacks);
  if (plugin != nullptr) dlclose(plugin);  // 3. now the plugin's code is no longer needed
  const bool ok = done.load() == kCallbacks;
  std::printf("%s\n", ok ? "OK" : "FAILURE");
  return ok ? 0 : 1;
}
