// Fuzzes ParseIpv4Prefix / ParseIpv6Prefix (rcu/containers/address.h) against a reference: the
// text checked against the alphabet addresses and lengths are written in (so no NUL, sign or
// space), the length 1 to 3 digits read by std::stoi and within the width, and the address given
// to inet_pton() on that validated copy. Whatever parses also formats and parses back to itself.

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rcu/containers/address.h"
#include "tests/fuzz/fuzz_kit.h"

namespace {

template <typename Address, int kFamily>
std::optional<rcu::Prefix<Address>> Reference(std::string_view text) {
  // Only what addresses and lengths are written with: no NUL, sign or space can pass.
  if (text.find_first_not_of("0123456789abcdefABCDEF:./") != std::string_view::npos) {
    return std::nullopt;
  }
  const size_t slash = text.find('/');
  int length = Address::kBits;
  if (slash != std::string_view::npos) {
    const std::string digits(text.substr(slash + 1));
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    length = std::stoi(digits);
    if (length > Address::kBits) return std::nullopt;
  }
  const std::string copy(text.substr(0, slash));  // checked above: no NUL
  std::array<uint8_t, Address::kBits / 8> bytes;
  if (inet_pton(kFamily, copy.c_str(), bytes.data()) != 1) return std::nullopt;
  return rcu::Prefix<Address>(Address(bytes), length);
}

template <typename Address, int kFamily, typename Parse>
void Check(std::string_view text, Parse parse) {
  const std::optional<rcu::Prefix<Address>> got = parse(text);
  const std::optional<rcu::Prefix<Address>> want = Reference<Address, kFamily>(text);
  RCU_FUZZ_CHECK(got.has_value() == want.has_value());
  if (!got) return;
  RCU_FUZZ_CHECK(*got == *want);
  RCU_FUZZ_CHECK(got->length >= 0 && got->length <= Address::kBits);
  const std::optional<rcu::Prefix<Address>> again = parse(rcu::ToString(*got));
  RCU_FUZZ_CHECK(again.has_value() && *again == *got);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Check<rcu::Ipv4Address, AF_INET>(text,
                                   [](std::string_view t) { return rcu::ParseIpv4Prefix(t); });
  Check<rcu::Ipv6Address, AF_INET6>(text,
                                    [](std::string_view t) { return rcu::ParseIpv6Prefix(t); });
  // The StatusOr parsers: the same answer, and a reason whenever they refuse.
  const auto v4 = rcu::ParseIpv4PrefixOrError(text);
  RCU_FUZZ_CHECK(v4.ok() == rcu::ParseIpv4Prefix(text).has_value());
  RCU_FUZZ_CHECK(v4.ok() || !v4.status().message().empty());
  const auto v6 = rcu::ParseIpv6PrefixOrError(text);
  RCU_FUZZ_CHECK(v6.ok() == rcu::ParseIpv6Prefix(text).has_value());
  return 0;
}
