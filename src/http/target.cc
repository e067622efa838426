#include <vcdn/http/target.h>

#include <vcdn/base/strings.h>

namespace vcdn::http {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

} // namespace

TargetError parse_target(std::string_view t, char* buf, size_t cap, Target* out) {
    *out = Target{};
    if (t.find('#') != std::string_view::npos) return TargetError::kBadForm;
    if (t.empty()) return TargetError::kBadForm;
    if (t.front() != '/') {
        // absolute-form (RFC 9112 3.2.2): http or https only.
        size_t skip = 0;
        if (starts_with_ci(t, "http://"))
            skip = 7;
        else if (starts_with_ci(t, "https://"))
            skip = 8;
        else
            return TargetError::kBadForm;
        t.remove_prefix(skip);
        size_t end = t.find_first_of("/?");
        out->authority = t.substr(0, end);
        if (out->authority.empty() || out->authority.find('@') != std::string_view::npos)
            return TargetError::kBadForm; // no userinfo: it only serves to confuse
        t = end == std::string_view::npos ? std::string_view("/") : t.substr(end);
        if (t.front() == '?') return TargetError::kBadForm;
    }
    size_t q = t.find('?');
    if (q != std::string_view::npos) {
        out->query = t.substr(q + 1);
        t = t.substr(0, q);
    }
    out->raw_path = t;

    // Decode and normalise segment by segment. A decoded '/' (%2F) separates segments like a
    // literal one, so "..%2f" cannot hide a dot-segment.
    size_t n = 0;
    size_t i = 0;
    while (i < t.size()) {
        // Read one segment (decoded) into buf[n, ...).
        while (i < t.size() && t[i] == '/')
            ++i;
        if (i >= t.size()) break;
        size_t seg_start = n;
        if (n > 0) {
            if (n >= cap) return TargetError::kTooLong;
            buf[n++] = '/';
            seg_start = n;
        }
        while (i < t.size()) {
            char c = t[i];
            if (c == '%') {
                if (i + 2 >= t.size()) return TargetError::kBadEncoding;
                int hi = hex_value(t[i + 1]);
                int lo = hex_value(t[i + 2]);
                if (hi < 0 || lo < 0) return TargetError::kBadEncoding;
                c = static_cast<char>(hi * 16 + lo);
                if (c == '\0') return TargetError::kNulByte;
                i += 3;
            } else {
                if (c == '\0') return TargetError::kNulByte; // callers may not have checked
                ++i;
            }
            if (c == '/') break;
            if (n >= cap) return TargetError::kTooLong;
            buf[n++] = c;
        }
        std::string_view seg(buf + seg_start, n - seg_start);
        if (seg.empty()) {
            n = seg_start > 0 ? seg_start - 1 : 0; // drop the separator we added
            continue;
        }
        if (seg == ".") {
            n = seg_start > 0 ? seg_start - 1 : 0;
            continue;
        }
        if (seg == "..") return TargetError::kDotSegment;
        if (seg.front() == '.') return TargetError::kHidden;
    }
    out->path = std::string_view(buf, n);
    return TargetError::kNone;
}

uint16_t target_error_status(TargetError e) {
    switch (e) {
    case TargetError::kNone:
        return 200;
    case TargetError::kHidden:
        return 404;
    case TargetError::kTooLong:
        return 414;
    default:
        return 400;
    }
}

const char* target_error_reason(TargetError e) {
    switch (e) {
    case TargetError::kNone:
        return "ok";
    case TargetError::kBadForm:
        return "unsupported request target form";
    case TargetError::kBadEncoding:
        return "invalid percent-encoding in path";
    case TargetError::kNulByte:
        return "NUL byte in path";
    case TargetError::kDotSegment:
        return "'..' in path";
    case TargetError::kHidden:
        return "no such file";
    case TargetError::kTooLong:
        return "path too long";
    }
    return "bad target";
}

} // namespace vcdn::http
