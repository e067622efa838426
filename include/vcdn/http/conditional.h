#pragma once
// Conditional requests (RFC 9110 13): pure evaluation of If-Match, If-Unmodified-Since,
// If-None-Match, If-Modified-Since and If-Range against a file's validators.
#include <cstdint>
#include <string>
#include <string_view>

#include <vcdn/http/request.h>

namespace vcdn::http {

struct Validators {
    std::string_view etag;     // strong entity-tag including quotes, e.g. "65a1b2c3-1f400"
    int64_t last_modified = 0; // Unix seconds
};

enum class Precondition : uint8_t {
    kProceed,            // evaluate the method normally
    kNotModified,        // 304
    kPreconditionFailed, // 412
};

// Steps 1-4 of RFC 9110 13.2.2, for GET and HEAD.
Precondition evaluate_preconditions(const Request& req, const Validators& v);

// Step 5: true when the Range header may be honoured (no If-Range, or it matches: a strong
// entity-tag comparison, or a date equal to Last-Modified).
bool if_range_allows(std::string_view if_range, const Validators& v);

// Does a comma-separated list of entity-tags (or "*") match `etag`? `weak` selects the
// weak comparison (If-None-Match) instead of the strong one (If-Match).
bool etag_list_matches(std::string_view list, std::string_view etag, bool weak);

// The edge's entity-tag for a file: "<mtime hex>-<size hex>" (the nginx form, so caches in
// front of a mixed fleet see the same tags).
std::string make_etag(int64_t mtime_seconds, uint64_t size);

} // namespace vcdn::http
