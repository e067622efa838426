#include <vcdn/media/uri.h>

#include <vector>

#include <vcdn/base/strings.h>

namespace vcdn::media {

namespace {

constexpr size_t kMaxUriBytes = 4096;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding of a path: '+' is itself (a query's space rule does not apply here).
bool decode_path(std::string_view in, std::string* out) {
    out->clear();
    out->reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out->push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) return false;
        const int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out->push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

} // namespace

std::string_view dir_of(std::string_view path) {
    return path.substr(0, path.rfind('/') + 1);
}

std::string resolve_uri(std::string_view base_dir, std::string_view uri) {
    uri = trim_ows(uri);
    uri = uri.substr(0, uri.find_first_of("?#"));
    if (uri.empty() || uri.size() > kMaxUriBytes || uri.find("://") != std::string_view::npos ||
        uri.find('$') != std::string_view::npos || uri.find("{$") != std::string_view::npos ||
        uri.substr(0, 2) == "//")
        return {};
    // A scheme without "//" ("data:", "skd:") is not a file of ours either.
    if (const size_t colon = uri.find(':');
        colon != std::string_view::npos && uri.find('/') > colon)
        return {};
    std::string decoded;
    if (!decode_path(uri, &decoded) || decoded.empty()) return {};
    for (char c : decoded)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return {};
    const bool dir = decoded.back() == '/';
    const std::string joined = decoded.front() == '/' ? decoded : std::string(base_dir) + decoded;
    std::vector<std::string_view> segs;
    for (std::string_view seg : split(joined, '/')) {
        if (seg.empty() || seg == ".") continue;
        if (seg == "..") {
            if (segs.empty()) return {};
            segs.pop_back();
            continue;
        }
        segs.push_back(seg);
    }
    std::string out;
    for (std::string_view seg : segs)
        out.append("/").append(seg);
    if (dir || out.empty()) out.push_back('/');
    return out;
}

std::string encode_path(std::string_view path) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(path.size() + 8);
    for (unsigned char c : path) {
        const bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~' ||
                          c == '/' || c == '!' || c == '(' || c == ')' || c == '*' || c == '+' ||
                          c == ',' || c == ';' || c == '=' || c == '@';
        if (safe) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

} // namespace vcdn::media
