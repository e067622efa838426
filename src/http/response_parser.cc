#include <vcdn/http/response_parser.h>

#include <vcdn/base/strings.h>

namespace vcdn::http {

const std::string* ResponseHead::find(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return &v;
    return nullptr;
}

ResponseParse parse_response_head(std::string_view buf, ResponseHead* out, std::string* error,
                                  size_t max_head) {
    size_t end = buf.find("\r\n\r\n");
    size_t term = 4;
    size_t lf = buf.find("\n\n");
    if (lf != std::string_view::npos && (end == std::string_view::npos || lf < end)) {
        end = lf;
        term = 2;
    }
    if (end == std::string_view::npos) {
        if (buf.size() > max_head) {
            *error = "response head too large";
            return ResponseParse::kError;
        }
        return ResponseParse::kIncomplete;
    }
    *out = ResponseHead{};
    out->head_bytes = end + term;
    std::string_view head = buf.substr(0, end);
    size_t pos = 0;
    bool first = true;
    while (pos <= head.size()) {
        size_t nl = head.find('\n', pos);
        std::string_view line =
            head.substr(pos, nl == std::string_view::npos ? head.npos : nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (first) {
            // HTTP/1.1 206 Partial Content
            if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
                *error = "malformed status line";
                return ResponseParse::kError;
            }
            out->version_minor = static_cast<uint8_t>(line[7] - '0');
            uint64_t code = 0;
            if (!parse_u64(line.substr(9, 3), &code) || code < 100 || code > 999) {
                *error = "malformed status code";
                return ResponseParse::kError;
            }
            out->status = static_cast<uint16_t>(code);
            if (line.size() > 13) out->reason = std::string(line.substr(13));
            first = false;
        } else {
            size_t colon = line.find(':');
            if (colon == std::string_view::npos || colon == 0) {
                *error = "malformed header line";
                return ResponseParse::kError;
            }
            std::string_view name = line.substr(0, colon);
            std::string_view value = trim_ows(line.substr(colon + 1));
            if (iequals(name, "content-length")) {
                uint64_t n = 0;
                if (!parse_u64(value, &n)) {
                    *error = "malformed Content-Length";
                    return ResponseParse::kError;
                }
                out->has_content_length = true;
                out->content_length = n;
            } else if (iequals(name, "transfer-encoding")) {
                out->chunked = value.find("chunked") != std::string_view::npos;
            } else if (iequals(name, "connection")) {
                out->connection_close = iequals(value, "close");
            }
            out->headers.emplace_back(std::string(name), std::string(value));
        }
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    return ResponseParse::kComplete;
}

} // namespace vcdn::http
