#include <vcdn/http/query.h>

namespace vcdn::http {

bool query_param(std::string_view query, std::string_view key, std::string_view* out) {
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view kv = query.substr(0, amp);
        size_t eq = kv.find('=');
        if (kv.substr(0, eq) == key) {
            // A key without '=' has an empty value: still a slice of the query (at its end).
            *out = eq == std::string_view::npos ? kv.substr(kv.size()) : kv.substr(eq + 1);
            return true;
        }
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return false;
}

bool url_decode(std::string_view in, std::string* out) {
    out->clear();
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '+') {
            out->push_back(' ');
        } else if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int h = hex(in[i + 1]), l = hex(in[i + 2]);
            if (h < 0 || l < 0) return false;
            out->push_back(static_cast<char>(h * 16 + l));
            i += 2;
        } else {
            out->push_back(c);
        }
    }
    return true;
}

} // namespace vcdn::http
