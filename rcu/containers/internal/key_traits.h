// Not part of the public API; include a container's header.
//
// Key traits every keyed container shares: whether its Hash and Eq are transparent (both declare
// `is_transparent`, as Abseil's and the standard's heterogeneous lookup require), and the type a
// lookup's key parameter takes (Abseil's key_arg): with transparent functors, the caller's own
// type, deduced from the call (a std::string_view or a literal for std::string keys: no string is
// built); otherwise the key type itself, so the call converts as it would for `const K&`. One
// template per operation then serves both.

#ifndef RCU_CONTAINERS_INTERNAL_KEY_TRAITS_H_
#define RCU_CONTAINERS_INTERNAL_KEY_TRAITS_H_

#include "rcu/version.h"

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
