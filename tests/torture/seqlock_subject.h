// rcutorture's seqlock subject: updaters rewrite small records in place under each record's
// SeqLock; readers copy two fields of a record with a random delay between the copies (the window
// a writer must hit) and check, after validation, that the fields belong to one write. At the end
// every record holds its updater's last write. Busted: seqlock_no_validate, readers that use their
// copies without validating them (S2 aborts in debug builds; torn records fail otherwise).

#ifndef RCU_TESTS_TORTURE_SEQLOCK_SUBJECT_H_
#define RCU_TESTS_TORTURE_SEQLOCK_SUBJECT_H_

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "rcu/seqlock.h"
#include "tests/torture/harness.h"

namespace rcu::torture {

class SeqLockSubject : public Subject {
 public:
  SeqLockSubject(int updaters, bool validate)
      : updaters_(updaters),
        validate_(validate),
        records_(std::make_unique<Record[]>(kRecordsPerUpdater * updaters)),
        last_(kRecordsPerUpdater * updaters, 0),
        versions_(updaters, 0) {}

  int Updaters() const override { return updaters_; }

  bool Read(std::mt19937_64& rng) override {
    const Record& r = records_[rng() % (kRecordsPerUpdater * updaters_)];
    SeqReader reader(r.lock);
    SeqCopy<uint64_t> value, check;
    do {
      value = reader.Copy(r.value);
      ReadDelay(rng);
      check = reader.Copy(r.check);
    } while (validate_ && !reader.Validate());
    if (!validate_) {
      // BUG (busted): the copies are used unvalidated.
      const bool whole = reader.Use(check) == ~reader.Use(value);
      reader.Abandon();
      return whole;
    }
    return reader.Use(check) == ~reader.Use(value);
  }

  void Update(std::mt19937_64& rng, int updater) override {
    const size_t i = updater * kRecordsPerUpdater + rng() % kRecordsPerUpdater;
    const uint64_t v = ++versions_[updater];
    SeqLock::WriteGuard write(records_[i].lock);
    write.Store(records_[i].value, v);
    write.Store(records_[i].check, ~v);
    last_[i] = v;
  }

  void Finish() override {
    for (size_t i = 0; i < last_.size(); ++i) {
      if (SeqRead(records_[i].lock, records_[i].value) != last_[i]) {
        Fail("a seqlock record differs from its updater's last write");
      }
    }
  }

 private:
  static constexpr size_t kRecordsPerUpdater = 4;  // few records: readers and writers collide
  struct Record {
    SeqLock lock;
    SeqField<uint64_t> value{0};
    SeqField<uint64_t> check{~uint64_t{0}};
  };
  const int updaters_;
  const bool validate_;
  std::unique_ptr<Record[]> records_;
  std::vector<uint64_t> last_;      // each updater writes only its own records' entries
  std::vector<uint64_t> versions_;  // each updater's own
};

}  // namespace rcu::torture

#endif  // RCU_TESTS_TORTURE_SEQLOCK_SUBJECT_H_
