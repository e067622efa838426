#pragma once
// One access-log record and its JSON line. Pure and allocation-free, so it can run per
// request on a worker and be tested on its own.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vcdn::edge {

struct AccessRecord {
    std::string_view time_second; // "2026-11-21T21:51:32" (UTC)
    uint32_t millis = 0;
    uint32_t worker = 0;
    uint64_t conn = 0;
    uint32_t req = 0; // request number on the connection
    std::string_view client, method, path, range, cc;
    uint16_t status = 0;
    uint64_t bytes = 0, body_bytes = 0;
    int64_t duration_us = 0;
    // From TCP_INFO at the end of the response; written only when `tcp` (the edge reads
    // TCP_INFO for some responses only: see EdgeConfig::access_log_tcp_info_ms).
    bool tcp = true;
    uint32_t rtt_us = 0, rttvar_us = 0, retrans = 0, cwnd = 0;
    uint64_t delivery_rate = 0; // bytes per second
    std::string_view reason;    // empty unless the edge refused or failed the request
    // HTTPS only (empty tls_version otherwise): protocol, cipher, how the body was encrypted
    // ("ktls" by the kernel, "userspace" by vcdn), and whether the session was resumed.
    std::string_view tls_version, tls_cipher, tls_path;
    bool tls_resumed = false;
};

// The longest line format_access_line() can produce: every field is cut to a bounded number
// of input bytes, each escaped to at most 6 output bytes.
inline constexpr size_t kMaxAccessLine = 12288;

// Writes one JSON object and '\n' into buf; returns the length. With cap >= kMaxAccessLine
// the line is always complete JSON; a smaller cap still never overflows (the line is cut).
size_t format_access_line(const AccessRecord& r, char* buf, size_t cap);

// "YYYY-MM-DDTHH:MM:SS" for a Unix time; writes 19 characters.
void format_iso_second(int64_t unix_seconds, char* out);

} // namespace vcdn::edge
