#include <vcdn/edge/response_plan.h>

#include <vcdn/base/strings.h>
#include <vcdn/http/conditional.h>
#include <vcdn/http/range.h>
#include <vcdn/http/response_writer.h>

namespace vcdn::edge {

Verdict check_request(const http::Request& req) {
    using http::Method;
    if (req.version_minor >= 1 && req.host_count == 0)
        return {400, "HTTP/1.1 request without a Host header"};
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
    if (status == 405) w.append("Allow: GET, HEAD\r\n");
    if (status == 503) w.append("Retry-After: 1\r\n");
    if (file) {
        if (status == 416) w.content_range_unsatisfied(file->size);
        validators(w, *file, ctx);
    }
    connection_header(w, ctx);
    w.end();
    if (!head_request) w.append(b.view());
    return w.overflow() ? 0 : w.size();
}

} // namespace vcdn::edge
