// Not part of the public API; include a container's header (rcu::DefaultHash and
// rcu::DefaultEq, defined here, are public through them).
//
// Key traits every keyed container shares: the default hash and equality, whether its Hash and
// Eq are transparent (both declare `is_transparent`, as Abseil's and the standard's heterogeneous
// lookup require), and the type a
// lookup's key parameter takes (Abseil's key_arg): with transparent functors, the caller's own
// type, deduced from the call (a std::string_view or a literal for std::string keys: no string is
// built); otherwise the key type itself, so the call converts as it would for `const K&`. One
// template per operation then serves both.

#ifndef RCU_CONTAINERS_INTERNAL_KEY_TRAITS_H_
#define RCU_CONTAINERS_INTERNAL_KEY_TRAITS_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/hash/hash.h"
#include "rcu/version.h"

namespace rcu {

// The default hash and equality of rcu::HashMap and rcu::ReplaceMap. For std::string keys they
// are transparent (as Abseil's containers' defaults are): lookups and erases take a
// std::string_view or a const char* and never build a std::string. absl::Hash gives a string and
// a string_view with the same contents the same hash. Any Hash and Eq that both declare
// `is_transparent` get the same heterogeneous lookup.
template <typename K>
struct DefaultHash : absl::Hash<K> {};
template <>
struct DefaultHash<std::string> {
  using is_transparent = void;
  size_t operator()(std::string_view key) const { return absl::Hash<std::string_view>()(key); }
};
template <typename K>
struct DefaultEq : std::equal_to<K> {};
template <>
struct DefaultEq<std::string> : std::equal_to<> {};

}  // namespace rcu

namespace rcu::container_internal {

template <typename Hash, typename Eq>
inline constexpr bool kTransparent = requires {
  typename Hash::is_transparent;
  typename Eq::is_transparent;
};

// KeyArg<kTransparent>::type<Q, K>: Q or K. A container names it through a member alias of its
// own, `template <typename Q> using KeyArg = ...::type<Q, K>;`, and takes `const KeyArg<Q>&`
// with `template <typename Q = K>`: once the container's class is instantiated the alias is Q
// (deduced) or K (not deduced: Q stays K).
template <bool kIsTransparent>
struct KeyArg {
  template <typename Q, typename K>
  using type = K;
};
template <>
struct KeyArg<true> {
  template <typename Q, typename K>
  using type = Q;
};

}  // namespace rcu::container_internal

#endif  // RCU_CONTAINERS_INTERNAL_KEY_TRAITS_H_
