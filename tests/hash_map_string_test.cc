// rcu/containers/hash_map.h with std::string keys: heterogeneous lookup. Find, Contains, Get,
// FindRef and Erase take a std::string_view or a const char* and allocate nothing; a map with
// keys the default hash and equality are not transparent for keeps its exact-type API.

#include <cstdint>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "rcu/containers/hash_map.h"
#include "rcu/domain.h"
#include "rcu/refcount.h"
#include "tests/testing/allocations.h"

namespace rcu {
namespace {

// Longer than any small-string buffer: building a std::string from it would allocate.
constexpr std::string_view kHost = "frontend-17.eu-west-3.service.example.com";

TEST(HashMapStringTest, LookupsByStringViewAllocateNothing) {
  Domain domain;
  HashMap<std::string, int> hosts(domain);
  hosts.Insert(std::string(kHost), 17);
  hosts.Insert("db-1.eu-west-3.service.example.com", 1);
  ReadGuard guard(domain);
  const uint64_t before = testutil::Allocations();
  const int* found = hosts.Find(guard, kHost);
  const bool contains = hosts.Contains(guard, kHost.substr(0, 10));
  const int* by_literal = hosts.Find(guard, "db-1.eu-west-3.service.example.com");
  const uint64_t after = testutil::Allocations();
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(*found, 17);
  EXPECT_FALSE(contains);
  ASSERT_NE(by_literal, nullptr);
  EXPECT_EQ(*by_literal, 1);
  EXPECT_EQ(after, before) << "a lookup by string_view built a std::string";
}

TEST(HashMapStringTest, GetAndEraseTakeAStringView) {
  Domain domain;
  HashMap<std::string, int> hosts(domain);
  hosts.Insert(std::string(kHost), 17);
  EXPECT_EQ(hosts.Get(kHost), 17);
  EXPECT_TRUE(hosts.Erase(kHost));
  EXPECT_FALSE(hosts.Erase(kHost));
  EXPECT_EQ(hosts.Get(kHost), std::nullopt);
  domain.Barrier();
}

TEST(HashMapStringTest, InsertAndInsertOrAssignTakeAStringView) {
  Domain domain;
  HashMap<std::string, int> hosts(domain);
  EXPECT_TRUE(hosts.Insert(kHost, 1));
  EXPECT_FALSE(hosts.Insert(kHost, 2));
  EXPECT_FALSE(hosts.InsertOrAssign(kHost, 3));
  EXPECT_TRUE(hosts.InsertOrAssign("other.example", 4));  // a C string too
  EXPECT_EQ(hosts.Get(kHost), 3);
  EXPECT_EQ(hosts.Get(std::string("other.example")), 4);
  domain.Barrier();
}

struct Session : RefCounted<Session> {
  explicit Session(Domain& domain) : RefCounted(domain) {}
};

TEST(HashMapStringTest, FindRefTakesAStringView) {
  Domain domain;
  HashMap<std::string, Ref<Session>> sessions(domain);
  sessions.Insert(std::string(kHost), MakeRef<Session>(domain));
  Ref<Session> held;
  {
    ReadGuard guard(domain);
    held = sessions.FindRef(guard, kHost);
  }
  EXPECT_TRUE(held);
  held.Reset();
  sessions.Erase(kHost);
  domain.Barrier();
  domain.Barrier();
}

// Integer keys keep the exact-type API: an int converts to the key type as before.
TEST(HashMapStringTest, NonTransparentKeysConvertAsBefore) {
  Domain domain;
  HashMap<uint64_t, int> map(domain);
  map.Insert(5, 50);
  ReadGuard guard(domain);
  EXPECT_EQ(*map.Find(guard, 5), 50);
  EXPECT_TRUE(map.Contains(guard, 5));
}

}  // namespace
}  // namespace rcu
