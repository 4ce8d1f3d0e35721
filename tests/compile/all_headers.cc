// Every public header in one translation unit, and every container instantiated with the calls a
// user makes: compiled (not run) by tests/compile/all_headers_test.sh at -O2 and -O3 with -Wall
// -Wextra -Werror under g++ and clang, with debug checks on and off. g++'s flow-sensitive
// warnings (-Wmaybe-uninitialized, -Wrestrict) fire where a template is instantiated, in the
// user's build: this is where ours would show first.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rcu/callback.h"
#include "rcu/containers/address.h"
#include "rcu/containers/copy_on_grow_array.h"
#include "rcu/containers/hash_map.h"
#include "rcu/containers/list.h"
#include "rcu/containers/lookup_cache.h"
#include "rcu/containers/ordered_map.h"
#include "rcu/containers/prefix_map.h"
#include "rcu/containers/replace_map.h"
#include "rcu/cxx26.h"
#include "rcu/diagnostics.h"
#include "rcu/domain.h"
#include "rcu/published.h"
#include "rcu/refcount.h"
#include "rcu/retirable.h"
#include "rcu/seqlock.h"
#include "rcu/update_mutex.h"
#include "rcu/version.h"

namespace {

struct Session : rcu::RefCounted<Session> {
  std::string user;
};
struct Element : rcu::ListHook<> {
  int value = 0;
};
struct Big {
  uint64_t words[8] = {};
};

template <typename Map, typename K, typename V>
int UseKeyedMap(Map& map, const K& key, V value) {
  int found = 0;
  map.Insert(key, value);
  map.InsertOrAssign(key, value);
  {
    rcu::ReadGuard guard(map.domain());
    found += map.Find(guard, key) != nullptr;
  }
  map.Erase(key);
  return found;
}

int UseHashMaps() {
  int found = 0;
  rcu::HashMap<uint64_t, uint64_t> ints;
  found += UseKeyedMap(ints, uint64_t{1}, uint64_t{2});
  found += ints.Get(uint64_t{1}).has_value();
  rcu::HashMap<std::string, std::string> strings;
  found += UseKeyedMap(strings, std::string("k"), std::string("v"));
  found += strings.Get(std::string_view("k")).has_value();
  rcu::HashMap<uint64_t, Big> big;
  found += UseKeyedMap(big, uint64_t{1}, Big{});
  rcu::HashMap<uint64_t, std::unique_ptr<int>> owned;
  owned.Insert(1, std::make_unique<int>(1));
  rcu::HashMap<uint64_t, rcu::Ref<Session>> sessions;
  sessions.Insert(1, rcu::MakeRef<Session>());
  {
    rcu::ReadGuard guard;
    found += static_cast<bool>(sessions.FindRef(guard, 1));
    ints.ForEach(guard, [&](const uint64_t&, const uint64_t&) { ++found; });
  }
  return found;
}

int UseOrderedMaps() {
  int found = 0;
  rcu::OrderedMap<uint64_t, uint64_t> ints;
  found += UseKeyedMap(ints, uint64_t{1}, uint64_t{2});
  rcu::OrderedMap<std::string, std::string> strings;
  found += UseKeyedMap(strings, std::string("k"), std::string("v"));
  for (uint64_t k = 0; k < 100; ++k) ints.Insert(k, k);
  rcu::ReadGuard guard;
  for (const auto& [key, value] : ints.Between(guard, 10, 20)) found += key == value;
  for (const auto& [key, value] : strings.All(guard)) found += key.size() + value.size();
  auto it = ints.LowerBound(guard, 5);
  found += it.key() == 5;
  return found;
}

int UseOtherContainers() {
  int found = 0;
  rcu::ReplaceMap<std::string, std::string> config;
  config.Insert("a", "1");
  config.InsertOrAssign("a", "2");
  config.Edit([](auto& editor) { editor.Set("b", "3"); });
  rcu::PrefixMap<rcu::Ipv4Address, int> routes;
  routes.Insert(*rcu::ParseIpv4Prefix("10.0.0.0/8"), 1);
  rcu::PrefixMap<rcu::Ipv6Address, std::string> routes6;
  routes6.Insert(*rcu::ParseIpv6Prefix("2001:db8::/32"), "x");
  rcu::CopyOnGrowArray<std::string> array;
  array.Append("x");
  rcu::List<std::string> list;
  list.PushBack("x");
  rcu::IntrusiveList<Element> intrusive;
  Element element;
  intrusive.PushBack(element);
  {
    rcu::ReadGuard guard;
    found += config.Find(guard, "a") != nullptr;
    found += routes.Lookup(guard, rcu::Ipv4Address::FromInteger(0x0A000001)) != nullptr;
    found += array.Read(guard).size();
    for (const std::string& s : list.Iterate(guard)) found += s.size();
    for (const Element& e : intrusive.Iterate(guard)) found += e.value;
  }
  intrusive.Erase(element);
  list.EraseIf([](const std::string& s) { return s.empty(); });
  found += rcu::ToString(*rcu::ParseIpv4Prefix("192.0.2.0/24")).size();
  return found;
}

int UseLookupCaches() {
  rcu::LookupCache<uint64_t, uint64_t> ints({.capacity = 8});
  ints.Insert(1, 2);
  int found = static_cast<int>(ints.GetOrLoad(3, [](uint64_t k) { return k; }));
  rcu::LookupCache<std::string, std::string> strings(
      {.capacity = 8, .ttl = std::chrono::seconds(1), .on_removal = nullptr});
  found += strings.GetOrLoad("k", [](const std::string& k) { return k; }).size();
  {
    rcu::ReadGuard guard;
    found += strings.Find(guard, std::string_view("k")) != nullptr;
    found += ints.Peek(guard, 1) != nullptr;
  }
  found += ints.Erase(1) + static_cast<int>(ints.EraseIf([](auto&, auto&) { return true; }));
  strings.Clear();
  return found + static_cast<int>(ints.Stats().hits);
}

int UseCore() {
  rcu::UpdateMutex mu;
  rcu::Published<std::string> published(new std::string("a"));
  {
    rcu::UpdateLock lock(mu);
    delete published.Exchange(new std::string("b"));
  }
  rcu::SeqLock seq;
  rcu::SeqField<Big> field;
  {
    rcu::SeqLock::WriteGuard write(seq);
    write.Store(field, Big{});
  }
  int found = static_cast<int>(rcu::SeqRead(seq, field).words[0]);
  rcu::ReadGuard guard;
  found += published.Read(guard)->size();
  return found;
}

}  // namespace

int main() {
  return UseHashMaps() + UseOrderedMaps() + UseOtherContainers() + UseLookupCaches() + UseCore() > 0
             ? 0
             : 1;
}
