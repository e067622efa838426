#include <vcdn/edge/response_plan.h>

#include <vcdn/base/strings.h>
#include <vcdn/http/conditional.h>
#include <vcdn/http/range.h>
#include <vcdn/http/response_writer.h>

namespace vcdn::edge {

Verdict check_request(const http::Request& req, bool options) {
    using http::Method;
    if (req.version_minor >= 1 && req.host_count == 0)
        return {400, "HTTP/1.1 request without a Host header"};
    if (options && req.method == Method::kOptions) return {};
    if (req.method != Method::kGet && req.method != Method::kHead) {
        if (req.method == Method::kOther) return {501, "request method not implemented"};
        return {405, "only GET and HEAD are allowed"};
    }
    if (!req.expect.empty() && !iequals(trim_ows(req.expect), "100-continue"))
        return {417, "unsupported expectation"};
    if (req.range_count > 1) return {400, "more than one Range header"};
    return {};
}

namespace {
std::string_view strip_port(std::string_view host) {
    if (!host.empty() && host.front() == '[') {
        size_t close = host.find(']');
        return close == std::string_view::npos ? host : host.substr(0, close + 1);
    }
    size_t colon = host.rfind(':');
    return colon == std::string_view::npos ? host : host.substr(0, colon);
}
} // namespace

Verdict check_host(const http::Request& req, std::string_view authority,
                   const std::vector<std::string>& server_names) {
    std::string_view host = trim_ows(req.host);
    if (!authority.empty()) {
        // An absolute-form target names the host itself (RFC 9112 3.2.2). A Host header that
        // disagrees is a cache-poisoning / smuggling shape: refuse it rather than pick one.
        if (!host.empty() && !iequals(strip_port(authority), strip_port(host)))
            return {400, "absolute URI host differs from the Host header"};
        host = authority;
    }
    if (server_names.empty()) return {};
    std::string_view name = strip_port(host);
    for (const std::string& s : server_names)
        if (iequals(name, s)) return {};
    return {404, "unknown host"};
}

Plan plan_file_response(const http::Request& req, const FileMeta& f) {
    Plan p;
    http::Validators v{f.etag, f.mtime};
    switch (http::evaluate_preconditions(req, v)) {
    case http::Precondition::kNotModified:
        p.status = 304;
        return p;
    case http::Precondition::kPreconditionFailed:
        p.status = 412;
        p.reason = "precondition failed";
        return p;
    case http::Precondition::kProceed:
        break;
    }
    const bool get = req.method == http::Method::kGet;
    p.status = 200;
    p.offset = 0;
    p.length = f.size;
    if (!req.range.empty() && http::if_range_allows(req.if_range, v)) {
        http::RangeDecision d = http::decide_range(req.range, f.size);
        if (d.outcome == http::RangeOutcome::kUnsatisfiable) {
            p.status = 416;
            p.reason = "range not satisfiable";
            p.unsatisfiable = true;
            p.length = 0;
            return p;
        }
        if (d.outcome == http::RangeOutcome::kPartial) {
            p.status = 206;
            p.partial = true;
            p.offset = d.range.first;
            p.length = d.range.length();
        }
    }
    p.send_file_body = get && p.length > 0;
    return p;
}

namespace {
void common_headers(http::ResponseWriter& w, uint16_t status, const HeadContext& ctx) {
    w.status_line(status);
    w.append("Server: vcdn\r\nDate: ");
    w.append(ctx.date);
    w.append("\r\n");
}
void connection_header(http::ResponseWriter& w, const HeadContext& ctx) {
    if (!ctx.keep_alive)
        w.append("Connection: close\r\n");
    else if (ctx.http10)
        w.append("Connection: keep-alive\r\n");
}
void validators(http::ResponseWriter& w, const FileMeta& f, const HeadContext& ctx) {
    w.header("Last-Modified", f.last_modified);
    w.header("ETag", f.etag);
    w.append("Accept-Ranges: bytes\r\n");
    if (!ctx.cache_control.empty()) w.header("Cache-Control", ctx.cache_control);
}
} // namespace

size_t write_file_head(char* buf, size_t cap, const Plan& p, const FileMeta& f,
                       const HeadContext& ctx) {
    http::ResponseWriter w(buf, cap);
    common_headers(w, p.status, ctx);
    if (p.status == 304) {
        validators(w, f, ctx);
    } else {
        w.header("Content-Type", f.content_type);
        w.header_u64("Content-Length", p.length);
        if (p.partial) w.content_range(p.offset, p.offset + p.length - 1, f.size);
        validators(w, f, ctx);
    }
    w.append(ctx.cors);
    connection_header(w, ctx);
    w.end();
    return w.overflow() ? 0 : w.size();
}

size_t write_error_response(char* buf, size_t cap, uint16_t status, const char* reason,
                            const HeadContext& ctx, bool head_request, const FileMeta* file) {
    http::ResponseWriter w(buf, cap);
    common_headers(w, status, ctx);
    // Body: "<status> <phrase>: <reason>\n"
    char body[256];
    http::ResponseWriter b(body, sizeof body);
    b.append_u64(status);
    b.append(" ");
    b.append(http::status_reason(status));
    if (reason) {
        b.append(": ");
        b.append(reason);
    }
    b.append("\n");
    w.append("Content-Type: text/plain; charset=utf-8\r\n");
    w.header_u64("Content-Length", b.size());
    if (status == 405)
        w.append(ctx.cors.empty() ? "Allow: GET, HEAD\r\n" : "Allow: GET, HEAD, OPTIONS\r\n");
    if (status == 503) w.append("Retry-After: 1\r\n");
    if (file) {
        if (status == 416) w.content_range_unsatisfied(file->size);
        validators(w, *file, ctx);
    }
    w.append(ctx.cors);
    connection_header(w, ctx);
    w.end();
    if (!head_request) w.append(b.view());
    return w.overflow() ? 0 : w.size();
}

namespace {
constexpr std::string_view kExpose =
    "Access-Control-Expose-Headers: Content-Range, Content-Length, Accept-Ranges, ETag\r\n";
}

CorsPolicy make_cors_policy(bool enabled, const std::vector<std::string>& origins, bool credentials,
                            uint32_t max_age_s, const std::vector<std::string>& allow_headers) {
    CorsPolicy p;
    p.enabled = enabled;
    if (!enabled) return p;
    p.any = origins.size() == 1 && origins[0] == "*";
    p.credentials = credentials && !p.any;
    if (!p.any) p.origins = origins;
    p.any_lines = "Access-Control-Allow-Origin: *\r\n" + std::string(kExpose);
    p.preflight_lines = "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n";
    if (!allow_headers.empty()) {
        p.preflight_lines += "Access-Control-Allow-Headers: ";
        for (size_t i = 0; i < allow_headers.size(); ++i) {
            if (i) p.preflight_lines += ", ";
            p.preflight_lines += allow_headers[i];
        }
        p.preflight_lines += "\r\n";
    }
    p.preflight_lines += "Access-Control-Max-Age: " + std::to_string(max_age_s) + "\r\n";
    return p;
}

std::string_view cors_lines(const CorsPolicy& p, std::string_view origin, char* buf, size_t cap) {
    if (!p.enabled) return {};
    if (p.any) return p.any_lines;
    // A list: the answer depends on Origin, on every response (a cache must key on it).
    http::ResponseWriter w(buf, cap);
    bool allowed = false;
    if (!origin.empty())
        for (const std::string& o : p.origins)
            if (origin == o) {
                allowed = true;
                break;
            }
    if (allowed) {
        // Echoed only when it equals a configured origin: nothing the client made up.
        w.header("Access-Control-Allow-Origin", origin);
        if (p.credentials) w.append("Access-Control-Allow-Credentials: true\r\n");
        w.append(kExpose);
    }
    w.append("Vary: Origin\r\n");
    return w.overflow() ? std::string_view() : w.view();
}

size_t write_options_response(char* buf, size_t cap, const HeadContext& ctx,
                              std::string_view preflight_lines) {
    http::ResponseWriter w(buf, cap);
    common_headers(w, 204, ctx);
    w.append("Allow: GET, HEAD, OPTIONS\r\n");
    w.append(ctx.cors);
    // The preflight's own lines only when the origin was allowed (the lines carry
    // Allow-Origin): a page from another origin learns nothing more.
    if (ctx.cors.find("Access-Control-Allow-Origin") != std::string_view::npos)
        w.append(preflight_lines);
    connection_header(w, ctx);
    w.end();
    return w.overflow() ? 0 : w.size();
}

} // namespace vcdn::edge
