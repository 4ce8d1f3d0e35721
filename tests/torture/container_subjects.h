// rcutorture's container subjects: updaters apply random operations to their own keys and keep a
// shadow of what they did; readers check, after a random delay inside the section, that every
// element they reach is alive and whole; at the end the container must hold exactly what the
// shadows say. And the busted subject: the seed's list-with-cache (bug hunt 2), which re-publishes
// elements being deleted and must be caught.

#ifndef RCU_TESTS_TORTURE_CONTAINER_SUBJECTS_H_
#define RCU_TESTS_TORTURE_CONTAINER_SUBJECTS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <vector>

#include "rcu/containers/copy_on_grow_array.h"
#include "rcu/containers/hash_map.h"
#include "rcu/containers/list.h"
#include "rcu/containers/lookup_cache.h"
#include "rcu/containers/ordered_map.h"
#include "rcu/containers/prefix_map.h"
#include "rcu/containers/replace_map.h"
#include "rcu/domain.h"
#include "tests/testing/seed_cache.h"
#include "tests/torture/harness.h"

namespace rcu::torture {

inline constexpr uint64_t kAlive = 0xA11FE;
inline constexpr uint64_t kKeysPerUpdater = 256;

struct Payload {
  Payload(uint64_t k, uint64_t v) : key(k), version(v), check(k * 31 + v) {}
  Payload(const Payload& o) : key(o.key), version(o.version), check(o.check) {}
  ~Payload() { canary = 0; }
  bool Whole() const { return canary == kAlive && check == key * 31 + version; }
  uint64_t key, version, check;
  uint64_t canary = kAlive;
};

// Half of all reads and updates go to two hot keys per updater (lookup traffic is skewed, and the
// races worth finding are on hot keys: the seed's cache bug needs one), the rest anywhere.
inline uint64_t PickKey(std::mt19937_64& rng, uint64_t updater) {
  return updater * kKeysPerUpdater + (rng() % 2 == 0 ? rng() % 2 : rng() % kKeysPerUpdater);
}

// A container whose updater u owns keys [u * kKeysPerUpdater, (u + 1) * kKeysPerUpdater) and
// keeps a shadow of them. A subclass maps Set/Erase/ReadKey/Contents onto its container.
class ShadowedSubject : public Subject {
 public:
  explicit ShadowedSubject(int updaters) : shadows_(updaters), versions_(updaters) {}
  int Updaters() const override { return static_cast<int>(shadows_.size()); }

  bool Read(std::mt19937_64& rng) override {
    return ReadKey(PickKey(rng, rng() % Updaters()), rng);
  }
  void Update(std::mt19937_64& rng, int updater) override {
    auto& shadow = shadows_[updater];
    const uint64_t key = PickKey(rng, updater);
    if (rng() % 3 == 0) {
      Erase(key);
      shadow.erase(key);
    } else {
      const uint64_t version = ++versions_[updater];
      Set(key, version);
      shadow[key] = version;
    }
  }
  void Finish() override {
    std::map<uint64_t, uint64_t> expected;
    for (const auto& s : shadows_) expected.insert(s.begin(), s.end());
    if (!Matches(Contents(), expected)) {
      Fail("the container's contents differ from what the updaters did");
    }
  }

 protected:
  virtual void Set(uint64_t key, uint64_t version) = 0;
  virtual void Erase(uint64_t key) = 0;
  // One section that reaches `key` (and whatever else the container makes a reader walk).
  virtual bool ReadKey(uint64_t key, std::mt19937_64& rng) = 0;
  virtual std::map<uint64_t, uint64_t> Contents() = 0;
  // key -> version of the payloads a sequence container holds.
  template <typename Range>
  static std::map<uint64_t, uint64_t> Tally(const Range& payloads) {
    std::map<uint64_t, uint64_t> out;
    for (const Payload& p : payloads) out[p.key] = p.version;
    return out;
  }
  virtual bool Matches(const std::map<uint64_t, uint64_t>& contents,
                       const std::map<uint64_t, uint64_t>& expected) const {
    return contents == expected;
  }

 private:
  std::vector<std::map<uint64_t, uint64_t>> shadows_;  // each updater's own
  std::vector<uint64_t> versions_;                     // each updater's own
};

class ListSubject : public ShadowedSubject {
 public:
  ListSubject(Domain& d, int updaters) : ShadowedSubject(updaters), domain_(d), list_(d) {}

 protected:
  void Set(uint64_t key, uint64_t version) override {
    if (list_.ReplaceIf([&](const Payload& p) { return p.key == key; },
                        [&](const Payload&) { return Payload(key, version); }) == 0) {
      list_.PushBack(Payload(key, version));
    }
  }
  void Erase(uint64_t key) override {
    list_.EraseIf([&](const Payload& p) { return p.key == key; });
  }
  bool ReadKey(uint64_t, std::mt19937_64& rng) override {
    ReadGuard guard(domain_);
    bool whole = true;
    for (const Payload& p : list_.Iterate(guard)) {
      if (whole) ReadDelay(rng);  // once per section is enough; hold the first element longest
      whole = whole && p.Whole();
      if (!whole) break;
    }
    return whole;
  }
  std::map<uint64_t, uint64_t> Contents() override {
    ReadGuard guard(domain_);
    return Tally(list_.Iterate(guard));
  }

 private:
  Domain& domain_;
  List<Payload> list_;
};

class HashMapSubject : public ShadowedSubject {
 public:
  HashMapSubject(Domain& d, int updaters) : ShadowedSubject(updaters), domain_(d), map_(d) {}

 protected:
  void Set(uint64_t key, uint64_t version) override {
    map_.InsertOrAssign(key, Payload(key, version));
  }
  void Erase(uint64_t key) override { map_.Erase(key); }
  bool ReadKey(uint64_t key, std::mt19937_64& rng) override {
    ReadGuard guard(domain_);
    const Payload* p = map_.Find(guard, key);
    ReadDelay(rng);
    return p == nullptr || (p->Whole() && p->key == key);
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    ReadGuard guard(domain_);
    map_.ForEach(guard, [&](const uint64_t& k, const Payload& p) { out[k] = p.version; });
    return out;
  }

 private:
  Domain& domain_;
  HashMap<uint64_t, Payload> map_;
};

// The array holds key k at index k: Set(k) appends up to k, then replaces k; Erase(k) of the last
// index truncates (other erases leave the array as it is). One sequence: one updater.
class ArraySubject : public ShadowedSubject {
 public:
  explicit ArraySubject(Domain& d) : ShadowedSubject(1), domain_(d), array_(d) {}

 protected:
  void Set(uint64_t key, uint64_t version) override {
    while (array_.size() <= key) array_.Append(Payload(array_.size(), 0));
    array_.Set(key, Payload(key, version));
  }
  void Erase(uint64_t key) override {
    if (key + 1 == array_.size()) array_.Truncate(key);
  }
  bool ReadKey(uint64_t, std::mt19937_64& rng) override {
    ReadGuard guard(domain_);
    const auto view = array_.Read(guard);
    ReadDelay(rng);
    for (size_t i = 0; i < view.size(); ++i) {
      if (!view[i].Whole() || view[i].key != i) return false;
    }
    return true;
  }
  std::map<uint64_t, uint64_t> Contents() override {
    ReadGuard guard(domain_);
    return Tally(array_.Read(guard));
  }
  // The shadow erases keys the array keeps (only the last index truncates): a key the array
  // holds carries the version last set, or 0 (appended as filler).
  bool Matches(const std::map<uint64_t, uint64_t>& contents,
               const std::map<uint64_t, uint64_t>& expected) const override {
    for (const auto& [key, version] : expected) {
      auto it = contents.find(key);
      if (it != contents.end() && it->second != version && it->second != 0) return false;
    }
    return true;
  }

 private:
  Domain& domain_;
  CopyOnGrowArray<Payload> array_;
};

class ReplaceMapSubject : public ShadowedSubject {
 public:
  ReplaceMapSubject(Domain& d, int updaters) : ShadowedSubject(updaters), domain_(d), map_(d) {}

 protected:
  void Set(uint64_t key, uint64_t version) override {
    map_.InsertOrAssign(key, Payload(key, version));
  }
  void Erase(uint64_t key) override { map_.Erase(key); }
  bool ReadKey(uint64_t key, std::mt19937_64& rng) override {
    ReadGuard guard(domain_);
    const auto& version = map_.Snapshot(guard);
    const Payload* p = version.Find(key);
    ReadDelay(rng);
    bool whole = p == nullptr || (p->Whole() && p->key == key);
    version.ForEach(
        [&](const uint64_t& k, const Payload& v) { whole = whole && v.Whole() && v.key == k; });
    return whole;
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    ReadGuard guard(domain_);
    map_.Snapshot(guard).ForEach([&](const uint64_t& k, const Payload& p) { out[k] = p.version; });
    return out;
  }

 private:
  Domain& domain_;
  ReplaceMap<uint64_t, Payload> map_;
};

// Key k is an IPv4 prefix under 10.0.0.0/8: four lengths (16, 20, 24, 28) at j = k / 4, the
// prefix bits of j ending where the prefix does, so keys nest (10.j.0.0/16 covers the /20s of
// 16j to 16j + 15) and distinct keys are distinct prefixes (up to 4 updaters). Readers look up
// an address inside the key's prefix: the match must contain it, be whole, and be the payload
// of the prefix it claims; the exact Find() must agree with the key.
class PrefixMapSubject : public ShadowedSubject {
 public:
  PrefixMapSubject(Domain& d, int updaters) : ShadowedSubject(updaters), domain_(d), map_(d) {
    if (updaters > 4) Fail("prefix_map takes at most 4 updaters");
  }

 protected:
  void Set(uint64_t key, uint64_t version) override {
    map_.InsertOrAssign(PrefixOf(key), Payload(key, version));
  }
  void Erase(uint64_t key) override { map_.Erase(PrefixOf(key)); }
  bool ReadKey(uint64_t key, std::mt19937_64& rng) override {
    const Prefix<Ipv4Address> p = PrefixOf(key);
    const uint32_t host = static_cast<uint32_t>(rng()) & (0xFFFFFFFFu >> p.length);
    const Ipv4Address a = Ipv4Address::FromInteger(p.address.ToInteger() | host);
    ReadGuard guard(domain_);
    const auto* match = map_.Lookup(guard, a);
    const auto* exact = map_.Find(guard, p);
    ReadDelay(rng);
    bool whole = match == nullptr || (match->value.Whole() && match->prefix.Contains(a) &&
                                      PrefixOf(match->value.key) == match->prefix);
    return whole && (exact == nullptr || (exact->value.Whole() && exact->value.key == key));
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    ReadGuard guard(domain_);
    map_.ForEach(guard, [&](const auto& e) { out[e.value.key] = e.value.version; });
    return out;
  }

 private:
  static Prefix<Ipv4Address> PrefixOf(uint64_t key) {
    const int length = 16 + 4 * static_cast<int>(key % 4);
    const uint32_t j = static_cast<uint32_t>(key / 4);
    return Prefix<Ipv4Address>(Ipv4Address::FromInteger(0x0A000000u | (j << (32 - length))),
                               length);
  }

  Domain& domain_;
  PrefixMap<Ipv4Address, Payload> map_;
};

// Readers find the key and scan the 8 keys from it: strictly increasing, each payload whole and
// under its own key.
class OrderedMapSubject : public ShadowedSubject {
 public:
  OrderedMapSubject(Domain& d, int updaters) : ShadowedSubject(updaters), domain_(d), map_(d) {}

 protected:
  void Set(uint64_t key, uint64_t version) override {
    map_.InsertOrAssign(key, Payload(key, version));
  }
  void Erase(uint64_t key) override { map_.Erase(key); }
  bool ReadKey(uint64_t key, std::mt19937_64& rng) override {
    ReadGuard guard(domain_);
    const Payload* p = map_.Find(guard, key);
    ReadDelay(rng);
    bool whole = p == nullptr || (p->Whole() && p->key == key);
    uint64_t previous = 0;
    int n = 0;
    for (auto it = map_.LowerBound(guard, key); it != map_.end() && n < 8; ++it, ++n) {
      whole = whole && it.key() >= key && (n == 0 || it.key() > previous) && it.value().Whole() &&
              it.value().key == it.key();
      previous = it.key();
    }
    return whole;
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    ReadGuard guard(domain_);
    for (const auto& [k, p] : map_.All(guard)) out[k] = p.version;
    return out;
  }

 private:
  Domain& domain_;
  OrderedMap<uint64_t, Payload> map_;
};

// The cache holds half of the updaters' keys at most, so it evicts as it goes: its contents are a
// subset of the shadows (with their versions). One read in eight loads a key of its own key space
// (above every updater's) through GetOrLoad, from several readers at once, outside any section.
class LookupCacheSubject : public ShadowedSubject {
 public:
  LookupCacheSubject(Domain& d, int updaters)
      : ShadowedSubject(updaters),
        domain_(d),
        cache_(d, {.capacity = kKeysPerUpdater * static_cast<size_t>(updaters) / 2}) {}

 protected:
  static constexpr uint64_t kLoadedKeys = uint64_t{1} << 40;  // keys readers load

  void Set(uint64_t key, uint64_t version) override { cache_.Insert(key, Payload(key, version)); }
  void Erase(uint64_t key) override { cache_.Erase(key); }
  bool ReadKey(uint64_t key, std::mt19937_64& rng) override {
    if (rng() % 8 == 0) {
      const uint64_t loaded = kLoadedKeys + rng() % 64;
      const Payload p = cache_.GetOrLoad(loaded, [](uint64_t k) { return Payload(k, 0); });
      return p.Whole() && p.key == loaded;
    }
    ReadGuard guard(domain_);
    const Payload* p = cache_.Find(guard, key);
    ReadDelay(rng);
    return p == nullptr || (p->Whole() && p->key == key);
  }
  std::map<uint64_t, uint64_t> Contents() override {
    std::map<uint64_t, uint64_t> out;
    cache_.EraseIf([&](const uint64_t& k, const Payload& p) {
      if (k < kLoadedKeys) out[k] = p.version;
      return false;
    });
    return out;
  }
  // Evictions: what is left must be what the updaters last did to those keys.
  bool Matches(const std::map<uint64_t, uint64_t>& contents,
               const std::map<uint64_t, uint64_t>& expected) const override {
    for (const auto& [k, version] : contents) {
      const auto it = expected.find(k);
      if (it == expected.end() || it->second != version) return false;
    }
    return true;
  }

 private:
  Domain& domain_;
  LookupCache<uint64_t, Payload> cache_;
};

// Busted: the seed's list-with-cache re-publishes elements being deleted. Its searches are
// sections of their own (the delay comes after); its updates erase and re-insert hot keys.
class SeedCacheSubject : public Subject {
 public:
  explicit SeedCacheSubject(int updaters)
      : updaters_(updaters), seed_(testing_support::SeedCache::kCache) {}
  int Updaters() const override { return updaters_; }
  bool Read(std::mt19937_64& rng) override {
    bool found = false;
    const bool valid = seed_.Search(PickKey(rng, 0), found);
    ReadDelay(rng);  // outside the search's own section: pacing only
    return valid;
  }
  void Update(std::mt19937_64& rng, int) override {
    const uint64_t key = PickKey(rng, 0);
    seed_.Erase(key);
    seed_.Insert(key);
  }

 private:
  const int updaters_;
  testing_support::SeedCache seed_;
};

}  // namespace rcu::torture

#endif  // RCU_TESTS_TORTURE_CONTAINER_SUBJECTS_H_
