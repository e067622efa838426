#include <vcdn/io/ip_prefix.h>

#include <arpa/inet.h>

#include <cstring>
#include <fmt/format.h>

#include <vcdn/base/strings.h>

namespace vcdn::io {

Result<IpAddress> IpAddress::parse(std::string_view text) {
    IpAddress a;
    char buf[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buf)
        return Error{fmt::format("'{}' is not an IP address", text)};
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (inet_pton(AF_INET, buf, a.bytes) == 1) {
        a.family = AF_INET;
    } else if (inet_pton(AF_INET6, buf, a.bytes) == 1) {
        a.family = AF_INET6;
    } else {
        return Error{fmt::format("'{}' is not an IP address", text)};
    }
    return a;
}

IpAddress IpAddress::from_sockaddr(const sockaddr* sa) {
    IpAddress a;
    if (sa->sa_family == AF_INET) {
        a.family = AF_INET;
        std::memcpy(a.bytes, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            a.family = AF_INET;
            std::memcpy(a.bytes, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            a.family = AF_INET6;
            std::memcpy(a.bytes, in6->sin6_addr.s6_addr, 16);
        }
    }
    return a;
}

IpAddress IpAddress::unmapped() const {
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family != AF_INET6 || std::memcmp(bytes, kMapped, 12) != 0) return *this;
    IpAddress a;
    a.family = AF_INET;
    std::memcpy(a.bytes, bytes + 12, 4);
    return a;
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = "";
    if (family) inet_ntop(family, bytes, buf, sizeof buf);
    return buf;
}

bool IpAddress::operator==(const IpAddress& o) const {
    return family == o.family && std::memcmp(bytes, o.bytes, length()) == 0;
}

Result<IpPrefix> IpPrefix::parse(std::string_view text) {
    IpPrefix p;
    size_t slash = text.find('/');
    auto addr = IpAddress::parse(text.substr(0, slash));
    if (!addr) return Error{fmt::format("'{}' is not a CIDR prefix", text)};
    p.addr = *addr;
    const unsigned max_bits = p.addr.family == AF_INET ? 32 : 128;
    uint64_t bits = max_bits;
    if (slash != std::string_view::npos &&
        (!parse_u64(text.substr(slash + 1), &bits) || bits > max_bits))
        return Error{fmt::format("'{}': prefix length must be 0-{}", text, max_bits)};
    p.bits = static_cast<uint8_t>(bits);
    for (unsigned i = p.bits; i < max_bits; ++i)
        if (p.addr.bytes[i / 8] & (0x80 >> (i % 8)))
            return Error{fmt::format("'{}': host bits are set (did you mean {}?)", text, [&] {
                IpPrefix q = p;
                for (unsigned j = q.bits; j < max_bits; ++j)
                    q.addr.bytes[j / 8] &= static_cast<uint8_t>(~(0x80 >> (j % 8)));
                return q.to_string();
            }())};
    return p;
}

bool IpPrefix::contains(const IpAddress& a) const {
    if (a.family != addr.family) return false;
    const unsigned full = bits / 8;
    if (std::memcmp(a.bytes, addr.bytes, full) != 0) return false;
    const unsigned rest = bits % 8;
    if (rest == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a.bytes[full] & mask) == addr.bytes[full];
}

std::string IpPrefix::to_string() const {
    return fmt::format("{}/{}", addr.to_string(), bits);
}

} // namespace vcdn::io

namespace vcdn::io {

size_t IpPrefixHash::operator()(const IpPrefix& p) const {
    uint64_t a = 0, b = 0;
    std::memcpy(&a, p.addr.bytes, 8);
    std::memcpy(&b, p.addr.bytes + 8, 8);
    uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL) * 0xc2b2ae3d27d4eb4fULL;
    h ^= (uint64_t{p.bits} << 8 | p.addr.family) * 0x165667b19e3779f9ULL;
    h ^= h >> 29;
    return static_cast<size_t>(h * 0xbf58476d1ce4e5b9ULL ^ (h >> 32));
}

} // namespace vcdn::io
