#pragma once
// Request-target → file path mapping (pure). This is the edge's first line of defence for
// path traversal: the decoded path it returns is relative, has no "." or ".." segments, no
// empty segments, no NUL byte and no segment starting with '.' (hidden and temporary files,
// such as partial downloads, are never served). Symlinks are the file layer's job
// (openat2 with RESOLVE_BENEATH).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vcdn::http {

enum class TargetError : uint8_t {
    kNone,
    kBadForm,     // not origin-form or an http(s) absolute-form URI        -> 400
    kBadEncoding, // a '%' not followed by two hex digits                   -> 400
    kNulByte,     // %00                                                    -> 400
    kDotSegment,  // a ".." segment                                         -> 400
    kHidden,      // a segment starting with '.' (dot-files, partial files) -> 404
    kTooLong,     // the decoded path does not fit                          -> 414
};

struct Target {
    std::string_view authority; // host[:port] of an absolute-form target, else empty
    std::string_view path;      // decoded and normalised, relative: "t/1/v-3000k.mp4"
    std::string_view query;     // raw, without '?'; empty when absent
    std::string_view raw_path;  // the path as sent (not decoded), starting with '/'
};

// Decodes `target` into buf[0, cap) and fills *out (out->path points into buf).
TargetError parse_target(std::string_view target, char* buf, size_t cap, Target* out);

uint16_t target_error_status(TargetError e);
const char* target_error_reason(TargetError e);

} // namespace vcdn::http
