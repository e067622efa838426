#pragma once
// HTTP-date (RFC 9110 5.6.7): formatting in IMF-fixdate and parsing of all three forms.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vcdn::http {

inline constexpr size_t kHttpDateLen = 29; // "Sun, 06 Nov 1994 08:49:37 GMT"

// Writes exactly kHttpDateLen characters (no terminator) for a Unix time in seconds.
void format_http_date(int64_t unix_seconds, char* out);
std::string http_date(int64_t unix_seconds);
// "2026-11-22T01:33:24.252Z" (UTC, milliseconds), for JSON logs and APIs.
std::string iso8601_ms(int64_t unix_ms);

// Parses IMF-fixdate, RFC 850 and asctime forms. Returns nullopt for anything else.
std::optional<int64_t> parse_http_date(std::string_view text);

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
// The inverse: year, month (1-12) and day (1-31) of a day number.
void civil_from_days(int64_t days, int64_t* y, unsigned* m, unsigned* d);

} // namespace vcdn::http
