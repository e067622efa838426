// libFuzzer target: the access-log line. Its string fields carry what a client sent (method,
// target, Range) or wrote about it (reason, client address); whatever the bytes, the line is
// one JSON object of printable ASCII on one line, never longer than its buffer, and each plain
// field reads back as the bytes given (cut to its limit; bytes >= 0x80 as U+0080..U+00FF).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <vcdn/edge/access_line.h>

namespace {

// What a field's bytes read back as: each byte one code point, UTF-8 encoded.
std::string as_latin1_utf8(std::string_view s, size_t max) {
    std::string out;
    for (size_t i = 0; i < s.size() && i < max; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else {
            out += static_cast<char>(0xc0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3f));
        }
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace vcdn::edge;
    // Fields separated by NUL: method, path, range, reason, client.
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string_view f[5];
    for (auto& x : f) {
        const size_t z = in.find('\0');
        x = in.substr(0, z);
        in = z == std::string_view::npos ? std::string_view() : in.substr(z + 1);
    }
    AccessRecord r;
    r.time_second = "2026-12-06T16:00:00";
    r.millis = static_cast<uint32_t>(size % 1000);
    r.method = f[0];
    r.path = f[1];
    r.range = f[2];
    r.reason = f[3];
    r.client = f[4];
    r.cc = "bbr";
    r.status = 206;
    r.tcp = size % 2 == 0;
    r.rtt_us = static_cast<uint32_t>(size * 7919);
    r.delivery_rate = ~uint64_t{0} - size;
    if (size % 3 == 0) {
        r.tls_version = f[2];
        r.tls_cipher = f[3];
        r.tls_path = "userspace";
    }

    // A full-size buffer: always a complete line.
    std::vector<char> buf(kMaxAccessLine);
    const size_t n = format_access_line(r, buf.data(), buf.size());
    if (n < 2 || n > buf.size() || buf[n - 1] != '\n' || buf[n - 2] != '}') abort();
    for (size_t i = 0; i + 1 < n; ++i) {
        const auto c = static_cast<unsigned char>(buf[i]);
        if (c < 0x20 || c >= 0x7f) abort(); // escaped: no raw control or non-ASCII byte
    }
    const auto j = nlohmann::json::parse(buf.data(), buf.data() + n - 1, nullptr, false);
    if (j.is_discarded() || !j.is_object()) abort();
    if (j.value("method", std::string("?")) != as_latin1_utf8(f[0], 32)) abort();
    if (j.value("range", std::string("?")) != as_latin1_utf8(f[2], 128)) abort();
    if (j.value("client", std::string("?")) != as_latin1_utf8(f[4], 64)) abort();
    if (!f[3].empty() && j.value("reason", std::string("?")) != as_latin1_utf8(f[3], 200)) abort();
    if (!j.contains("path") || j.contains("rtt_us") != r.tcp) abort();

    // Smaller buffers (exactly sized, so that an overrun is seen): cut, never overrun.
    for (size_t cap : {size_t{2}, size_t{40}, size_t{200}, n > 3 ? n - 3 : size_t{2}}) {
        std::vector<char> small(cap);
        if (format_access_line(r, small.data(), small.size()) > cap) abort();
    }
    return 0;
}
