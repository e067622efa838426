#include <vcdn/io/proxy_protocol.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include <vcdn/base/strings.h>

namespace vcdn::io {

namespace {

constexpr std::string_view kV1 = "PROXY ";
constexpr std::string_view kV2("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr size_t kMaxV1 = 107; // including CRLF (the spec's limit)

ProxyStatus bad(const char** why, const char* reason) {
    *why = reason;
    return ProxyStatus::kBad;
}

// "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n", "PROXY UNKNOWN ...\r\n".
ProxyStatus parse_v1(std::string_view in, ProxyHeader* out, const char** why) {
    const size_t end = in.substr(0, kMaxV1).find("\r\n");
    if (end == std::string_view::npos)
        return in.size() >= kMaxV1 ? bad(why, "PROXY v1 line too long") : ProxyStatus::kIncomplete;
    out->length = end + 2;
    const std::vector<std::string_view> f = split(in.substr(kV1.size(), end - kV1.size()), ' ');
    if (f.empty()) return bad(why, "PROXY v1 without a protocol");
    if (f[0] == "UNKNOWN") return ProxyStatus::kOk; // the peer's own connection
    if (f.size() != 5 || (f[0] != "TCP4" && f[0] != "TCP6"))
        return bad(why, "PROXY v1: want TCP4|TCP6 src dst sport dport");
    auto src = IpAddress::parse(f[1]);
    auto dst = IpAddress::parse(f[2]);
    if (!src || !dst) return bad(why, "PROXY v1: an address does not parse");
    const uint8_t fam = f[0] == "TCP4" ? AF_INET : AF_INET6;
    if (src->family != fam || dst->family != fam)
        return bad(why, "PROXY v1: an address is not of the protocol's family");
    uint64_t sport = 0, dport = 0;
    if (!parse_u64(f[3], &sport) || !parse_u64(f[4], &dport) || sport > 65535 || dport > 65535 ||
        (f[3].size() > 1 && f[3][0] == '0') || (f[4].size() > 1 && f[4][0] == '0'))
        return bad(why, "PROXY v1: a port does not parse");
    out->has_client = true;
    out->client = src->unmapped();
    out->client_port = static_cast<uint16_t>(sport);
    return ProxyStatus::kOk;
}

ProxyStatus parse_v2(std::string_view in, ProxyHeader* out, const char** why) {
    if (in.size() < 16) return ProxyStatus::kIncomplete;
    const auto b = [&](size_t i) { return static_cast<uint8_t>(in[i]); };
    if ((b(12) >> 4) != 2) return bad(why, "PROXY v2: unknown version");
    const uint8_t cmd = b(12) & 0x0f;
    if (cmd > 1) return bad(why, "PROXY v2: unknown command");
    const size_t len = (size_t{b(14)} << 8) | b(15);
    if (len > kMaxProxyHeader - 16) return bad(why, "PROXY v2: header too long");
    if (in.size() < 16 + len) return ProxyStatus::kIncomplete;
    out->length = 16 + len;
    if (cmd == 0) return ProxyStatus::kOk; // LOCAL: the balancer's own connection
    const uint8_t fam = b(13) >> 4;
    const std::string_view body = in.substr(16, len);
    if (fam == 1) { // INET: src(4) dst(4) sport(2) dport(2)
        if (body.size() < 12) return bad(why, "PROXY v2: short INET addresses");
        out->client.family = AF_INET;
        std::memcpy(out->client.bytes, body.data(), 4);
        out->client_port = static_cast<uint16_t>((b(16 + 8) << 8) | b(16 + 9));
        out->has_client = true;
    } else if (fam == 2) { // INET6: src(16) dst(16) sport(2) dport(2)
        if (body.size() < 36) return bad(why, "PROXY v2: short INET6 addresses");
        out->client.family = AF_INET6;
        std::memcpy(out->client.bytes, body.data(), 16);
        out->client = out->client.unmapped();
        out->client_port = static_cast<uint16_t>((b(16 + 32) << 8) | b(16 + 33));
        out->has_client = true;
    } // UNSPEC, UNIX: no address of ours to take; the connection stays the peer's
    return ProxyStatus::kOk;
}

} // namespace

ProxyStatus parse_proxy_header(std::string_view in, ProxyHeader* out, const char** why) {
    *out = ProxyHeader{};
    *why = "";
    // Enough bytes to tell the two signatures (and anything else) apart?
    const size_t v1 = std::min(in.size(), kV1.size()), v2 = std::min(in.size(), kV2.size());
    if (in.substr(0, v1) == kV1.substr(0, v1) && v1 == kV1.size()) return parse_v1(in, out, why);
    if (in.substr(0, v2) == kV2.substr(0, v2) && v2 == kV2.size()) return parse_v2(in, out, why);
    if (in.substr(0, v1) == kV1.substr(0, v1) || in.substr(0, v2) == kV2.substr(0, v2))
        return ProxyStatus::kIncomplete;
    return bad(why, "no PROXY protocol header");
}

} // namespace vcdn::io
