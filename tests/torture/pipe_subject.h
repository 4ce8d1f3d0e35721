// rcutorture's domain subject, the kernel's own: the updater replaces the current element and
// ages every removed element one pipe stage per grace period (synchronous, expedited, polled and
// callback flavors at random, all through the operations table), recycling it after the last
// stage; readers record the stage they observe after a random delay. A reader that observes stage
// 2 or more saw a grace period end while it held the element ("Reader Pipe"). Every element
// carries an mbtest field set before it is published and cleared when it is recycled: a reader
// that sees it clear caught a publish or reuse ordering bug.

#ifndef RCU_TESTS_TORTURE_PIPE_SUBJECT_H_
#define RCU_TESTS_TORTURE_PIPE_SUBJECT_H_

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "rcu/callback.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "tests/testing/torture_ops.h"
#include "tests/torture/harness.h"

namespace rcu::torture {

inline constexpr int kPipeLen = 10;

class Histogram {
 public:
  void Add(int bucket) {
    counts_[std::min(bucket, kPipeLen)].fetch_add(1, std::memory_order_relaxed);
  }
  std::string Format() const {
    std::string out;
    for (const auto& c : counts_) out.append(" ").append(std::to_string(c.load()));
    return out;
  }

 private:
  std::atomic<uint64_t> counts_[kPipeLen + 1] = {};
};

class PipeSubject : public Subject {
 public:
  PipeSubject(Domain& domain, const testing_support::TortureOps& ops)
      : domain_(domain),
        ops_(ops),
        // The early-callback flavor's bug lives in callbacks: age through nothing else.
        callbacks_only_(&ops == &testing_support::kEarlyCallbackOps) {
    for (auto& e : pool_) {
      e.owner = this;
      free_.push_back(&e);
    }
    Element* first = TakeFree();
    first->mbtest.store(1, std::memory_order_relaxed);
    current_.Assign(first);
  }
  ~PipeSubject() override { current_.Init(nullptr); }

  int Updaters() const override { return 1; }  // removed_ is the updater's

  bool Read(std::mt19937_64& rng) override {
    ReadGuard guard(domain_);
    const uint64_t gp_before = domain_.GracePeriodsCompleted();
    Element* p = current_.Read(guard);
    bool ok = true;
    if (p->mbtest.load(std::memory_order_relaxed) == 0) {
      mbtest_errors_.fetch_add(1);
      Fail("mbtest: a reader saw an element that was not (or no longer) published");
      ok = false;
    }
    ReadDelay(rng);
    const int pipe = p->pipe.load(std::memory_order_relaxed);
    pipe_.Add(pipe);
    if (pipe >= 2) {
      Fail("Reader Pipe: a grace period ended while a reader held the element");
      ok = false;
    }
    batch_.Add(static_cast<int>(domain_.GracePeriodsCompleted() - gp_before));
    return ok;
  }

  void Update(std::mt19937_64& rng, int) override {
    Element* fresh = TakeFree();
    if (fresh == nullptr) {  // everything is in the pipe: let it drain
      ops_.sync(domain_);
      AgeRemoved();
      return;
    }
    fresh->pipe.store(0, std::memory_order_relaxed);
    fresh->mbtest.store(1, std::memory_order_relaxed);
    Element* old = current_.Exchange(fresh);
    old->pipe.store(1, std::memory_order_relaxed);  // removed: stage 1
    const int flavor = callbacks_only_ ? 3 : static_cast<int>(rng() % 4);
    switch (flavor) {
      case 0:
        removed_.push_back(old);
        ops_.sync(domain_);
        break;
      case 1:
        removed_.push_back(old);
        ops_.sync_expedited(domain_);
        break;
      case 2: {
        removed_.push_back(old);
        const GracePeriodCookie cookie = domain_.GetState();
        while (!domain_.PollState(cookie) && rng() % 4 != 0) std::this_thread::yield();
        ops_.cond_sync(domain_, cookie);
        break;
      }
      default:
        ops_.call(domain_, &old->head, &AgeByCallback);  // the callback ages it
        callback_flavor_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    AgeRemoved();
  }

  void Print() const override {
    std::printf("Reader Pipe: %s\n", pipe_.Format().c_str());
    std::printf("Reader Batch: %s\n", batch_.Format().c_str());
    std::printf("aged through callbacks: %llu  mbtest errors: %llu\n", ULL(callback_flavor_.load()),
                ULL(mbtest_errors_.load()));
    std::printf("Free-Block Circulation: %llu elements recycled after %d stages\n",
                ULL(recycled_.load()), kPipeLen);
  }

 private:
  struct Element {
    std::atomic<int> pipe{0};
    std::atomic<int> mbtest{0};
    CallbackHead head;
    PipeSubject* owner = nullptr;
  };

  // One grace period has passed for every element the updater removed.
  void AgeRemoved() {
    std::vector<Element*> still;
    for (Element* e : removed_) {
      if (e->pipe.fetch_add(1, std::memory_order_relaxed) + 1 >= kPipeLen) {
        Recycle(e);
      } else {
        still.push_back(e);
      }
    }
    removed_.swap(still);
  }

  // Ages an element one stage and queues it for the next one.
  static void AgeByCallback(CallbackHead* head) {
    Element* e = ContainerOf(head, &Element::head);
    PipeSubject& self = *e->owner;
    if (e->pipe.fetch_add(1, std::memory_order_relaxed) + 1 >= kPipeLen) {
      self.Recycle(e);
    } else {
      self.ops_.call(self.domain_, &e->head, &AgeByCallback);
    }
  }

  void Recycle(Element* e) {
    e->mbtest.store(0, std::memory_order_relaxed);
    recycled_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(free_mu_);
    free_.push_back(e);
  }

  Element* TakeFree() {
    std::lock_guard<std::mutex> lock(free_mu_);
    if (free_.empty()) return nullptr;
    Element* e = free_.back();
    free_.pop_back();
    return e;
  }

  Domain& domain_;
  const testing_support::TortureOps& ops_;
  const bool callbacks_only_;
  Element pool_[100];
  std::mutex free_mu_;
  std::vector<Element*> free_;
  std::vector<Element*> removed_;  // the updater's
  Published<Element> current_{domain_};
  Histogram pipe_, batch_;
  std::atomic<uint64_t> callback_flavor_{0}, mbtest_errors_{0}, recycled_{0};
};

}  // namespace rcu::torture

#endif  // RCU_TESTS_TORTURE_PIPE_SUBJECT_H_
