#pragma once
// Query-string helpers for API requests (pure; fuzzed with the other parsers).
#include <string>
#include <string_view>

namespace vcdn::http {

// The raw value of `key` in "a=1&b=2" (not decoded); false when the key is absent.
bool query_param(std::string_view query, std::string_view key, std::string_view* out);
// Percent-decodes a query value ('+' is a space). False on a bad escape.
bool url_decode(std::string_view in, std::string* out);

} // namespace vcdn::http
