#pragma once
// Range requests (RFC 9110 14): pure functions from a Range header value and a
// representation size to what the server should send. No I/O, so tests call them directly.
#include <cstdint>
#include <string_view>

namespace vcdn::http {

struct ByteRange {
    uint64_t first = 0; // inclusive
    uint64_t last = 0;  // inclusive
    uint64_t length() const { return last - first + 1; }
};

enum class RangeOutcome : uint8_t {
    kFull,          // send 200 with the whole representation (no Range, or one we ignore)
    kPartial,       // send 206 with `range`
    kUnsatisfiable, // send 416 with "Content-Range: bytes */<size>"
};

struct RangeDecision {
    RangeOutcome outcome = RangeOutcome::kFull;
    ByteRange range;
};

// Decides how to answer `Range: <header>` for a representation of `size` bytes.
// - Only the "bytes" unit is understood; any other unit is ignored (200).
// - `a-b`, `a-` and `-n` forms; b past the end is clamped; a past the end is unsatisfiable.
// - A syntactically invalid bytes range is refused with 416, as nginx does.
// - Several ranges: when the satisfiable ones overlap or touch, they are coalesced into one
//   206 (RFC 9110 allows it); otherwise the Range header is ignored and the whole file sent
//   (a multipart/byteranges body has no use for video players). None satisfiable: 416.
RangeDecision decide_range(std::string_view header, uint64_t size);

// The most ranges we look at in one header; more is treated as invalid (a DoS shape).
inline constexpr int kMaxRanges = 16;

} // namespace vcdn::http
