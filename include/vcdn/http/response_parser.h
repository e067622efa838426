#pragma once
// Parser for HTTP/1.x response heads, for vcdn's own clients (demo, player, fill, tests).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vcdn::http {

struct ResponseHead {
    uint8_t version_minor = 1;
    uint16_t status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers; // names as sent
    size_t head_bytes = 0;

    // First header with this name (case-insensitive), or nullptr.
    const std::string* find(std::string_view name) const;
    bool has_content_length = false;
    uint64_t content_length = 0;
    bool chunked = false;
    bool connection_close = false;
};

enum class ResponseParse : uint8_t { kComplete, kIncomplete, kError };

// Parses the head at the start of buf. On kError, *error says why.
ResponseParse parse_response_head(std::string_view buf, ResponseHead* out, std::string* error,
                                  size_t max_head = 65536);

} // namespace vcdn::http
