// -----------------------------------------------------------------------------
// File: address.h
// -----------------------------------------------------------------------------
//
// The keys of rcu::PrefixMap: fixed-width bit strings (`rcu::BitString<kBytes>`, with
// `rcu::Ipv4Address` and `rcu::Ipv6Address` as the 4- and 16-byte ones) and prefixes of them
// (`rcu::Prefix<Address>`: an address and a length in bits), with parsing and formatting in the
// usual notations ("192.0.2.0/24", "2001:db8::/32").
//
// Bits:         bit 0 is the most significant bit of bytes()[0] (network order), so an IPv4
//               address 192.0.2.1 is the bytes {192, 0, 2, 1} and its first octet is bits 0-7.
// Prefixes:     a Prefix built from an address and a length keeps only the first `length` bits of
//               the address (host bits are cleared, as Python's ip_network(strict=False) does;
//               Linux's `ip route` rejects them instead). Its length must be within 0 and the
//               address's width: rcu::PrefixMap aborts with "P3:" otherwise.
// Parsing:      ParseIpv4Prefix / ParseIpv6Prefix accept "address/length" and a bare address
//               (a host route: /32, /128), the address as inet_pton() reads it and the length
//               as 1 to 3 decimal digits, and return std::nullopt for anything else (a sign, a
//               space, an embedded NUL, a length out of range). They never throw.
//               ParseIpv4PrefixOrError / ParseIpv6PrefixOrError return an absl::StatusOr
//               instead, whose status says what is wrong ("\"10.0.0.0/33\": the length is
//               over 32 bits").
// Thread safety: values; copy them freely.
//
// Example:
//   std::optional<rcu::Prefix<rcu::Ipv4Address>> p = rcu::ParseIpv4Prefix("10.1.0.0/16");
//   rcu::Ipv4Address a = rcu::Ipv4Address::FromInteger(0x0A010203);  // 10.1.2.3
//   bool inside = p->Contains(a);                                    // true

#ifndef RCU_CONTAINERS_ADDRESS_H_
#define RCU_CONTAINERS_ADDRESS_H_

#include <arpa/inet.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rcu {

template <size_t kBytes>
class BitString {
 public:
  static constexpr int kBits = static_cast<int>(8 * kBytes);

  constexpr BitString() = default;
  constexpr explicit BitString(const std::array<uint8_t, kBytes>& bytes) : bytes_(bytes) {}

  // The address whose bits are `value`'s low kBits bits, most significant first
  // (Ipv4Address::FromInteger(0xC0000201) is 192.0.2.1).
  static constexpr BitString FromInteger(uint64_t value) requires(kBytes <= 8) {
    BitString b;
    for (size_t i = 0; i < kBytes; ++i)
      b.bytes_[i] = static_cast<uint8_t>(value >> (8 * (kBytes - 1 - i)));
    return b;
  }
  constexpr uint64_t ToInteger() const requires(kBytes <= 8) {
    uint64_t value = 0;
    for (size_t i = 0; i < kBytes; ++i) value = (value << 8) | bytes_[i];
    return value;
  }

  constexpr const std::array<uint8_t, kBytes>& bytes() const { return bytes_; }

  // Bits [4i, 4i + 4) as a number from 0 to 15.
  constexpr int Nibble(int i) const { return (bytes_[i >> 1] >> ((~i & 1) << 2)) & 0xF; }

  // Bit i (0 or 1).
  constexpr int Bit(int i) const { return (bytes_[i >> 3] >> (7 - (i & 7))) & 1; }

  // This string with bits [length, kBits) cleared.
  constexpr BitString Masked(int length) const {
    BitString b = *this;
    for (int i = 0; i < static_cast<int>(kBytes); ++i) {
      const int keep = length - 8 * i;  // bits of byte i to keep
      if (keep <= 0) {
        b.bytes_[i] = 0;
      } else if (keep < 8) {
        b.bytes_[i] &= static_cast<uint8_t>(0xFF << (8 - keep));
      }
    }
    return b;
  }

  friend constexpr bool operator==(const BitString&, const BitString&) = default;
  friend constexpr auto operator<=>(const BitString&, const BitString&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const BitString& b) {
    return H::combine(std::move(h), b.bytes_);
  }

 private:
  std::array<uint8_t, kBytes> bytes_{};
};

using Ipv4Address = BitString<4>;
using Ipv6Address = BitString<16>;

template <typename Address>
struct Prefix {
  Prefix() = default;
  // The first `length` bits of `a` (the others are cleared).
  constexpr Prefix(const Address& a, int length) : address(a.Masked(length)), length(length) {}

  // Whether `a` begins with this prefix.
  constexpr bool Contains(const Address& a) const { return a.Masked(length) == address; }

  friend constexpr bool operator==(const Prefix&, const Prefix&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Prefix& p) {
    return H::combine(std::move(h), p.address, p.length);
  }

  Address address;  // bits from `length` on are zero
  int length = 0;
};

namespace internal {

// An InvalidArgument status: the parsed text, quoted, then what is wrong with it.
inline absl::Status ParseError(std::string_view text, std::string_view what) {
  std::string message = "\"";
  message.append(text).append("\": ").append(what);
  return absl::InvalidArgumentError(message);
}

// "address" or "address/length" through inet_pton, or what is wrong with the text. The length
// is 1 to 3 decimal digits (no sign, no space); the text holds no NUL (inet_pton reads a C
// string and would stop at one, ignoring what follows).
template <typename Address, int kFamily>
absl::StatusOr<Prefix<Address>> ParsePrefix(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) {
    return ParseError(text, "holds a NUL character");
  }
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  int length = Address::kBits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty()) return ParseError(text, "no length after '/'");
    bool decimal = digits.size() <= 3;
    length = 0;
    for (size_t i = 0; decimal && i < digits.size(); ++i) {
      decimal = digits[i] >= '0' && digits[i] <= '9';
      length = length * 10 + (digits[i] - '0');
    }
    if (!decimal) return ParseError(text, "the length is not 1 to 3 decimal digits");
    if (length > Address::kBits) {
      return ParseError(
          text, kFamily == AF_INET ? "the length is over 32 bits" : "the length is over 128 bits");
    }
  }
  std::array<uint8_t, Address::kBits / 8> bytes;
  if (inet_pton(kFamily, address.c_str(), bytes.data()) != 1) {
    return ParseError(text, kFamily == AF_INET ? "not an IPv4 address before the length"
                                               : "not an IPv6 address before the length");
  }
  return Prefix<Address>(Address(bytes), length);
}

template <typename T>
std::optional<T> OrNull(absl::StatusOr<T> parsed) {
  if (!parsed.ok()) return std::nullopt;
  return *std::move(parsed);
}

template <typename Address, int kFamily>
std::string Format(const Address& a) {
  char text[INET6_ADDRSTRLEN];
  return inet_ntop(kFamily, a.bytes().data(), text, sizeof(text)) != nullptr ? text : "";
}

}  // namespace internal

inline std::optional<Prefix<Ipv4Address>> ParseIpv4Prefix(std::string_view text) {
  return internal::OrNull(internal::ParsePrefix<Ipv4Address, AF_INET>(text));
}
inline std::optional<Prefix<Ipv6Address>> ParseIpv6Prefix(std::string_view text) {
  return internal::OrNull(internal::ParsePrefix<Ipv6Address, AF_INET6>(text));
}
// The same parsers, saying what is wrong: an InvalidArgument status that quotes the text and
// names the fault (a NUL, a missing or malformed or too long length, a malformed address).
inline absl::StatusOr<Prefix<Ipv4Address>> ParseIpv4PrefixOrError(std::string_view text) {
  return internal::ParsePrefix<Ipv4Address, AF_INET>(text);
}
inline absl::StatusOr<Prefix<Ipv6Address>> ParseIpv6PrefixOrError(std::string_view text) {
  return internal::ParsePrefix<Ipv6Address, AF_INET6>(text);
}

// "192.0.2.1", "2001:db8::1"; a prefix adds "/length".
inline std::string ToString(const Ipv4Address& a) {
  return internal::Format<Ipv4Address, AF_INET>(a);
}
inline std::string ToString(const Ipv6Address& a) {
  return internal::Format<Ipv6Address, AF_INET6>(a);
}
template <size_t kBytes>
std::string ToString(const Prefix<BitString<kBytes>>& p) {
  std::string text = ToString(p.address);  // appended: see domain.cc on g++ 12's -Wrestrict
  text.append("/").append(std::to_string(p.length));
  return text;
}

}  // namespace rcu

#endif  // RCU_CONTAINERS_ADDRESS_H_
