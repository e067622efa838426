#pragma once
// An HTTP/1.x request head as parsed by parse_request(). Every string_view points into the
// connection's receive buffer and is valid only until that buffer is reused.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vcdn::http {

enum class Method : uint8_t {
    kGet,
    kHead,
    kPost,
    kPut,
    kDelete,
    kOptions,
    kPatch,
    kConnect,
    kTrace,
    kOther, // a syntactically valid token we do not know
};

struct Request {
    Method method = Method::kOther;
    std::string_view method_text;
    std::string_view target;   // raw request-target, as sent
    uint8_t version_minor = 1; // HTTP/1.<minor>

    // The headers the edge acts on. Empty when absent.
    std::string_view host;
    std::string_view range;
    std::string_view if_match;
    std::string_view if_none_match;
    std::string_view if_modified_since;
    std::string_view if_unmodified_since;
    std::string_view if_range;
    std::string_view expect;
    std::string_view user_agent;
    std::string_view authorization; // for the control plane's API
    std::string_view origin;        // CORS: the page's origin ("https://player.example")
    std::string_view forwarded_for; // the last X-Forwarded-For (io::real_client reads it)
    bool cors_preflight = false;    // Access-Control-Request-Method present (with OPTIONS)

    uint8_t host_count = 0;
    uint8_t range_count = 0;
    bool connection_close = false;      // "Connection: close"
    bool connection_keep_alive = false; // "Connection: keep-alive"
    bool has_content_length = false;
    bool has_transfer_encoding = false;
    uint64_t content_length = 0;
    uint16_t header_count = 0;

    size_t head_bytes = 0; // bytes of the request head, including the blank line

    void clear() { *this = Request{}; }
    bool keep_alive_by_default() const { return version_minor >= 1; }
};

} // namespace vcdn::http
