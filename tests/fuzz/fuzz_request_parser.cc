// libFuzzer target: the request-head parser must never crash, read out of bounds or loop,
// and what it accepts must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <vcdn/http/request_parser.h>
#include <vcdn/http/target.h>
#include <vcdn/io/http_service.h>
#include <vcdn/io/proxy_protocol.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::http;
    // Copy into an exact-size heap buffer so ASan sees any over-read.
    std::vector<char> buf(data, data + size);
    ParseLimits lim;
    lim.max_head_bytes = 4096;
    lim.max_target_bytes = 1024;
    lim.max_headers = 32;
    Request req;
    ScanState scan;
    ParseResult r = parse_request(buf.data(), buf.size(), lim, &scan, &req);
    // Feeding the same bytes in two steps must give the same verdict.
    Request req2;
    ScanState scan2;
    ParseResult r2{};
    if (size > 1) {
        r2 = parse_request(buf.data(), size / 2, lim, &scan2, &req2);
        if (r2.status == ParseStatus::kIncomplete)
            r2 = parse_request(buf.data(), buf.size(), lim, &scan2, &req2);
        if (r2.status != r.status && r2.status != ParseStatus::kError &&
            r.status != ParseStatus::kError)
            abort();
    }
    if (r.status == ParseStatus::kComplete) {
        if (req.head_bytes == 0 || req.head_bytes > size || req.head_bytes > lim.max_head_bytes)
            abort();
        if (req.target.empty() || req.target.size() > lim.max_target_bytes) abort();
        if (req.target.data() < buf.data() ||
            req.target.data() + req.target.size() > buf.data() + size)
            abort();
        // X-Forwarded-For from a trusted proxy: the client is the proxy or an address the
        // header names, never anything else, whatever the bytes.
        static const std::vector<vcdn::io::IpPrefix> proxies = {
            *vcdn::io::IpPrefix::parse("127.0.0.0/8"), *vcdn::io::IpPrefix::parse("::1/128")};
        static const vcdn::io::IpAddress lb = *vcdn::io::IpAddress::parse("127.0.0.1");
        const vcdn::io::IpAddress who = vcdn::io::real_client(lb, req.forwarded_for, proxies);
        if (who.family == 0) abort();
        if (!(who == lb) && req.forwarded_for.find(':') == std::string_view::npos &&
            req.forwarded_for.find(who.to_string()) == std::string_view::npos)
            abort();
        char path[2048];
        Target t;
        TargetError te = parse_target(req.target, path, sizeof path, &t);
        if (te == TargetError::kNone) {
            // The normalised path never contains a dot-segment, NUL or empty segment.
            std::string_view p = t.path;
            if (p.find('\0') != std::string_view::npos) abort();
            if (!p.empty() && (p.front() == '/' || p.back() == '/')) abort();
            if (p.find("//") != std::string_view::npos) abort();
            if (p == ".." || p.substr(0, 3) == "../" || p.find("/../") != std::string_view::npos ||
                (p.size() >= 3 && p.substr(p.size() - 3) == "/.."))
                abort();
        }
    } else if (r.status == ParseStatus::kError) {
        if (r.error_status < 400 || r.error_status > 505 || r.error_reason == nullptr) abort();
    }
    // The same bytes as what a balancer wrote first on a connection (PROXY protocol): a
    // length within the bytes and the bound, the same verdict for the header alone, a reason
    // for every refusal, and never "wait for more" beyond the bound.
    vcdn::io::ProxyHeader ph;
    const char* why = nullptr;
    const vcdn::io::ProxyStatus ps =
        vcdn::io::parse_proxy_header({buf.data(), buf.size()}, &ph, &why);
    if (ps == vcdn::io::ProxyStatus::kOk) {
        if (ph.length == 0 || ph.length > size || ph.length > vcdn::io::kMaxProxyHeader) abort();
        if (ph.has_client && ph.client.family == 0) abort();
        vcdn::io::ProxyHeader again;
        if (vcdn::io::parse_proxy_header({buf.data(), ph.length}, &again, &why) !=
                vcdn::io::ProxyStatus::kOk ||
            again.length != ph.length || !(again.client == ph.client))
            abort();
    } else if (ps == vcdn::io::ProxyStatus::kBad) {
        if (why == nullptr || *why == '\0') abort();
    } else if (size > vcdn::io::kMaxProxyHeader) {
        abort(); // incomplete beyond the bound: a reader would wait forever
    }
    return 0;
}
