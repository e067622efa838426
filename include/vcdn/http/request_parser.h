#pragma once
// The HTTP/1.1 request-head parser of the edge's hot path. Hand-written because it runs for
// every request: one pass, no allocation, string_views into the caller's buffer.
//
// Strict where laxness enables request smuggling or cache poisoning (RFC 9112): no
// whitespace before a header colon, no obs-fold, no control characters, a single
// Content-Length value, not both Content-Length and Transfer-Encoding. Lenient where the RFC
// allows it: bare LF line ends and empty lines before the request line.
#include <cstddef>
#include <cstdint>

#include <vcdn/http/request.h>

namespace vcdn::http {

struct ParseLimits {
    size_t max_head_bytes = 8192; // request line + headers + blank line
    size_t max_target_bytes = 4096;
    size_t max_headers = 64;
};

enum class ParseStatus : uint8_t { kComplete, kIncomplete, kError };

struct ParseResult {
    ParseStatus status = ParseStatus::kIncomplete;
    uint16_t error_status = 0;          // HTTP status to answer with, when kError
    const char* error_reason = nullptr; // short human text, when kError (static storage)
};

// Resumable scan state: lets the caller re-offer a growing buffer without rescanning bytes
// already seen (a client sending one byte at a time costs O(n), not O(n^2)).
struct ScanState {
    size_t scanned = 0;
    void reset() { scanned = 0; }
};

// Parses the request head at the start of buf[0, len). On kComplete, *out is filled and
// out->head_bytes says how many bytes the head used; the rest of the buffer is the next
// pipelined request (GET/HEAD carry no body here). On kIncomplete the caller reads more
// and calls again with the same ScanState. On kError the caller answers error_status and
// closes the connection.
ParseResult parse_request(const char* buf, size_t len, const ParseLimits& limits, ScanState* scan,
                          Request* out);

Method method_from_token(const char* p, size_t n);
const char* method_name(Method m);

} // namespace vcdn::http
