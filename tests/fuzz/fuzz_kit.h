// What the fuzz targets share: the input read as a sequence of small operations, a check that
// fails the run, the entry point's body (one domain, a barrier per input), and the updates every
// container target applies to the container and to its model alike.

#ifndef RCU_TESTS_FUZZ_FUZZ_KIT_H_
#define RCU_TESTS_FUZZ_FUZZ_KIT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "rcu/domain.h"

namespace rcu::fuzz {

// Each call takes the next bytes; an input that runs out yields zeros (so every input is a
// valid, finite sequence).
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return size_ == 0; }

  template <typename T>
  T Take() {
    T value{};
    const size_t n = size_ < sizeof(T) ? size_ : sizeof(T);
    if (n != 0) std::memcpy(&value, data_, n);
    data_ += n;
    size_ -= n;
    return value;
  }
  uint8_t Byte() { return Take<uint8_t>(); }

 private:
  const uint8_t* data_;
  size_t size_;
};

// Fails the run: libFuzzer reports the crash with the input that caused it.
#define RCU_FUZZ_CHECK(condition)                                                      \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      __builtin_printf("check failed at %s:%d: %s\n", __FILE__, __LINE__, #condition); \
      __builtin_trap();                                                                \
    }                                                                                  \
  } while (0)

// The body of LLVMFuzzerTestOneInput: `run(input, domain)` on one process-wide domain, then a
// barrier, so that what the input retired is freed before it ends (libFuzzer reports memory an
// input leaves allocated as a leak).
template <typename Run>
int RunInput(const uint8_t* data, size_t size, Run run) {
  static Domain* const domain = new Domain;
  FuzzInput in(data, size);
  run(in, *domain);
  domain->Barrier();
  return 0;
}

// Insert, InsertOrAssign or Erase (`op` 0, 1, 2) on the container and on its model (a std::map
// keyed by `model_key`), checking that both say the same.
template <typename Map, typename Key, typename Model, typename ModelKey, typename V>
void Update(int op, Map& map, const Key& key, Model& model, const ModelKey& model_key,
            const V& value) {
  switch (op) {
    case 0:
      RCU_FUZZ_CHECK(map.Insert(key, value) == model.emplace(model_key, value).second);
      break;
    case 1:
      RCU_FUZZ_CHECK(map.InsertOrAssign(key, value) == (model.count(model_key) == 0));
      model.insert_or_assign(model_key, value);
      break;
    default:
      RCU_FUZZ_CHECK(map.Erase(key) == (model.erase(model_key) == 1));
      break;
  }
}

// A lookup's result (a value pointer or null) against the model's.
template <typename V, typename Model, typename ModelKey>
void ExpectFound(const V* got, const Model& model, const ModelKey& model_key) {
  const auto it = model.find(model_key);
  RCU_FUZZ_CHECK((got != nullptr) == (it != model.end()));
  if (got != nullptr) RCU_FUZZ_CHECK(*got == it->second);
}

}  // namespace rcu::fuzz

#endif  // RCU_TESTS_FUZZ_FUZZ_KIT_H_
