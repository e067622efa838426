#include <vcdn/http/request_parser.h>

#include <cstring>

#include <vcdn/base/strings.h>

namespace vcdn::http {
namespace {

// RFC 9110 tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" /
// "`" / "|" / "~" / DIGIT / ALPHA.
struct CharTables {
    bool token[256] = {};
    bool value[256] = {};  // field-value bytes: HTAB, SP, VCHAR, obs-text
    bool target[256] = {}; // request-target bytes: VCHAR and obs-text (no SP, no CTL)
    constexpr CharTables() {
        for (int c = '0'; c <= '9'; ++c)
            token[c] = true;
        for (int c = 'a'; c <= 'z'; ++c)
            token[c] = true;
        for (int c = 'A'; c <= 'Z'; ++c)
            token[c] = true;
        for (const char* p = "!#$%&'*+-.^_`|~"; *p; ++p)
            token[static_cast<unsigned char>(*p)] = true;
        value[static_cast<unsigned char>('\t')] = true;
        for (int c = 0x20; c <= 0x7e; ++c)
            value[c] = true;
        for (int c = 0x80; c <= 0xff; ++c)
            value[c] = true;
        for (int c = 0x21; c <= 0x7e; ++c)
            target[c] = true;
        for (int c = 0x80; c <= 0xff; ++c)
            target[c] = true;
    }
};
constexpr CharTables kChars;

inline bool is_token(char c) {
    return kChars.token[static_cast<unsigned char>(c)];
}

ParseResult fail(uint16_t status, const char* reason) {
    return ParseResult{ParseStatus::kError, status, reason};
}

// Leading empty lines before the request line are ignored (RFC 9112 2.2), but only a few.
constexpr size_t kMaxLeadingEmpty = 16;

size_t skip_leading_empty_lines(const char* buf, size_t len) {
    size_t i = 0;
    while (i < len && i <= kMaxLeadingEmpty) {
        if (buf[i] == '\n') {
            ++i;
        } else if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') {
            i += 2;
        } else {
            break;
        }
    }
    return i;
}

// Finds the end of the head (just past the empty line). Returns 0 when not yet present and
// records in scan where to resume.
size_t find_head_end(const char* buf, size_t len, size_t start, ScanState* scan) {
    size_t i = scan->scanned > start ? scan->scanned : start;
    while (i < len) {
        const void* nl = std::memchr(buf + i, '\n', len - i);
        if (!nl) {
            scan->scanned = len;
            return 0;
        }
        i = static_cast<size_t>(static_cast<const char*>(nl) - buf);
        if (i + 1 >= len) break;
        if (buf[i + 1] == '\n') return i + 2;
        if (buf[i + 1] == '\r') {
            if (i + 2 >= len) break;
            if (buf[i + 2] == '\n') return i + 3;
        }
        ++i;
    }
    scan->scanned = i; // resume at this '\n': its successors were not all here yet
    return 0;
}

// Reads one line ending at LF (CRLF or bare LF) starting at *pos. *line excludes the line
// end. A CR anywhere else stays in the line, where the character checks refuse it.
bool next_line(const char* buf, size_t end, size_t* pos, std::string_view* line) {
    const char* start = buf + *pos;
    const void* nl = std::memchr(start, '\n', end - *pos);
    if (!nl) return false; // cannot happen within a found head; treated as malformed
    size_t n = static_cast<size_t>(static_cast<const char*>(nl) - start);
    *pos += n + 1;
    if (n > 0 && start[n - 1] == '\r') --n;
    *line = std::string_view(start, n);
    return true;
}

void parse_connection_tokens(std::string_view v, Request* out) {
    while (!v.empty()) {
        size_t comma = v.find(',');
        std::string_view tok = trim_ows(v.substr(0, comma));
        if (iequals(tok, "close"))
            out->connection_close = true;
        else if (iequals(tok, "keep-alive"))
            out->connection_keep_alive = true;
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
    }
}

// Returns an error result, or status kComplete to mean "header accepted".
ParseResult take_header(std::string_view name, std::string_view value, Request* out) {
    const ParseResult ok{ParseStatus::kComplete, 0, nullptr};
    switch (name.size()) {
    case 4:
        if (iequals(name, "host")) {
            if (++out->host_count > 1) return fail(400, "more than one Host header");
            out->host = value;
        }
        break;
    case 5:
        if (iequals(name, "range")) {
            ++out->range_count;
            out->range = value;
        }
        break;
    case 6:
        if (iequals(name, "expect"))
            out->expect = value;
        else if (iequals(name, "origin"))
            out->origin = value;
        break;
    case 8:
        if (iequals(name, "if-match"))
            out->if_match = value;
        else if (iequals(name, "if-range"))
            out->if_range = value;
        break;
    case 10:
        if (iequals(name, "connection"))
            parse_connection_tokens(value, out);
        else if (iequals(name, "user-agent"))
            out->user_agent = value;
        break;
    case 13:
        if (iequals(name, "if-none-match"))
            out->if_none_match = value;
        else if (iequals(name, "authorization"))
            out->authorization = value;
        break;
    case 14:
        if (iequals(name, "content-length")) {
            uint64_t n = 0;
            if (!parse_u64(value, &n)) return fail(400, "invalid Content-Length");
            if (out->has_content_length && n != out->content_length)
                return fail(400, "conflicting Content-Length headers");
            out->has_content_length = true;
            out->content_length = n;
        }
        break;
    case 15:
        // The last one: a proxy that adds a line of its own puts it after the client's.
        if (iequals(name, "x-forwarded-for")) out->forwarded_for = value;
        break;
    case 17:
        if (iequals(name, "if-modified-since"))
            out->if_modified_since = value;
        else if (iequals(name, "transfer-encoding"))
            out->has_transfer_encoding = true;
        break;
    case 19:
        if (iequals(name, "if-unmodified-since")) out->if_unmodified_since = value;
        break;
    case 29:
        if (iequals(name, "access-control-request-method")) out->cors_preflight = true;
        break;
    default:
        break;
    }
    return ok;
}

// Cheap check on a head that is still arriving: the method must be a token. Catches a TLS
// handshake or binary junk on the plain-HTTP port at once instead of after the timeout.
bool partial_method_ok(const char* buf, size_t start, size_t len) {
    for (size_t i = start; i < len; ++i) {
        if (buf[i] == ' ') return i > start;
        if (!is_token(buf[i])) return false;
    }
    return true;
}

} // namespace

Method method_from_token(const char* p, size_t n) {
    std::string_view m(p, n);
    // Methods are case-sensitive (RFC 9110 9.1).
    switch (n) {
    case 3:
        if (m == "GET") return Method::kGet;
        if (m == "PUT") return Method::kPut;
        break;
    case 4:
        if (m == "HEAD") return Method::kHead;
        if (m == "POST") return Method::kPost;
        break;
    case 5:
        if (m == "PATCH") return Method::kPatch;
        if (m == "TRACE") return Method::kTrace;
        break;
    case 6:
        if (m == "DELETE") return Method::kDelete;
        break;
    case 7:
        if (m == "OPTIONS") return Method::kOptions;
        if (m == "CONNECT") return Method::kConnect;
        break;
    default:
        break;
    }
    return Method::kOther;
}

const char* method_name(Method m) {
    switch (m) {
    case Method::kGet:
        return "GET";
    case Method::kHead:
        return "HEAD";
    case Method::kPost:
        return "POST";
    case Method::kPut:
        return "PUT";
    case Method::kDelete:
        return "DELETE";
    case Method::kOptions:
        return "OPTIONS";
    case Method::kPatch:
        return "PATCH";
    case Method::kConnect:
        return "CONNECT";
    case Method::kTrace:
        return "TRACE";
    case Method::kOther:
        return "OTHER";
    }
    return "OTHER";
}

ParseResult parse_request(const char* buf, size_t len, const ParseLimits& limits, ScanState* scan,
                          Request* out) {
    const size_t start = skip_leading_empty_lines(buf, len);
    if (start > kMaxLeadingEmpty) return fail(400, "too many empty lines before the request");
    const size_t end = find_head_end(buf, len, start, scan);
    if (end == 0) {
        if (!partial_method_ok(buf, start, len)) return fail(400, "invalid request method");
        const void* first_nl = len > start ? std::memchr(buf + start, '\n', len - start) : nullptr;
        if (!first_nl && len - start > limits.max_target_bytes + 32)
            return fail(414, "request target too long");
        if (len >= limits.max_head_bytes) return fail(431, "request header too large");
        return ParseResult{ParseStatus::kIncomplete, 0, nullptr};
    }
    if (end > limits.max_head_bytes) return fail(431, "request header too large");

    out->clear();
    size_t pos = start;
    std::string_view line;
    if (!next_line(buf, end, &pos, &line)) return fail(400, "malformed request line");

    // request-line = method SP request-target SP HTTP-version
    size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) return fail(400, "malformed request line");
    for (size_t i = 0; i < sp1; ++i)
        if (!is_token(line[i])) return fail(400, "invalid request method");
    out->method_text = line.substr(0, sp1);
    out->method = method_from_token(line.data(), sp1);

    size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) {
        // No version at all is HTTP/0.9, which we do not speak.
        return fail(400, "malformed request line");
    }
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (target.size() > limits.max_target_bytes) return fail(414, "request target too long");
    for (char c : target)
        if (!kChars.target[static_cast<unsigned char>(c)])
            return fail(400, "invalid character in request target");
    out->target = target;

    std::string_view version = line.substr(sp2 + 1);
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return fail(400, "malformed HTTP version");
    if (version[5] != '1') return fail(505, "only HTTP/1.x is supported");
    out->version_minor = static_cast<uint8_t>(version[7] - '0');

    // Header fields until the empty line. One pass per line: the name's bytes must be tchars
    // up to ':', the value's must be field-value bytes up to the line end (LF or CRLF), so the
    // scan that checks the value also finds where the line ends. A CR anywhere but before the
    // LF is refused as a value byte.
    for (;;) {
        if (pos >= end) return fail(400, "malformed header");
        const char* l = buf + pos;
        if (l[0] == '\n') break;
        if (l[0] == '\r' && pos + 1 < end && l[1] == '\n') break;
        if (l[0] == ' ' || l[0] == '\t') return fail(400, "obsolete header line folding");
        if (++out->header_count > limits.max_headers) return fail(431, "too many headers");
        size_t i = pos;
        while (i < end && is_token(buf[i]))
            ++i;
        if (i == pos || i >= end || buf[i] != ':') return fail(400, "invalid header name");
        const size_t vstart = i + 1;
        size_t j = vstart;
        while (j < end && kChars.value[static_cast<unsigned char>(buf[j])])
            ++j;
        if (j >= end) return fail(400, "malformed header");
        const size_t vend = j;
        if (buf[j] == '\r' && j + 1 < end && buf[j + 1] == '\n')
            j += 2;
        else if (buf[j] == '\n')
            j += 1;
        else
            return fail(400, "invalid character in header value");
        ParseResult r = take_header(std::string_view(l, i - pos),
                                    trim_ows(std::string_view(buf + vstart, vend - vstart)), out);
        if (r.status == ParseStatus::kError) return r;
        pos = j;
    }
    if (out->has_content_length && out->has_transfer_encoding)
        return fail(400, "both Content-Length and Transfer-Encoding");
    out->head_bytes = end;
    scan->reset();
    return ParseResult{ParseStatus::kComplete, 0, nullptr};
}

} // namespace vcdn::http
