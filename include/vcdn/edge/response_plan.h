#pragma once
// The edge's pure decisions about a request, kept apart from the socket state machine (the
// Traffic Server HttpTransact/HttpSM split): what status to answer, which byte range of the
// file to send, and the exact response head. Tests call these directly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <vcdn/http/request.h>

namespace vcdn::edge {

struct FileMeta {
    uint64_t size = 0;
    int64_t mtime = 0;
    std::string_view etag;
    std::string_view last_modified; // formatted HTTP-date
    std::string_view content_type;
};

struct Plan {
    uint16_t status = 200;
    const char* reason = nullptr; // why, for error statuses (body text and access log)
    bool send_file_body = false;  // false for HEAD, 304, errors
    uint64_t offset = 0;          // first body byte in the file
    uint64_t length = 0;          // body length (also the Content-Length of a HEAD)
    bool partial = false;         // 206: add Content-Range
    bool unsatisfiable = false;   // 416: add "Content-Range: bytes */size"
};

// Preconditions, then Range, for a GET or HEAD on an existing file.
Plan plan_file_response(const http::Request& req, const FileMeta& file);

// Checks on the request before any file is looked at. Returns status 0 when the request may
// proceed, else the status and reason to answer with.
struct Verdict {
    uint16_t status = 0;
    const char* reason = nullptr;
};
// `options`: OPTIONS is answered (CORS on): it passes here and the caller answers it.
Verdict check_request(const http::Request& req, bool options = false);

// Host check: `authority` (from an absolute-form target) and the Host header, against the
// configured server names (empty list = any host).
Verdict check_host(const http::Request& req, std::string_view authority,
                   const std::vector<std::string>& server_names);

struct HeadContext {
    std::string_view date; // formatted HTTP-date of now
    bool keep_alive = true;
    bool http10 = false; // the client spoke HTTP/1.0: say keep-alive explicitly
    std::string_view cache_control;
    // CORS header lines for this response ("Access-Control-Allow-Origin: *\r\n..."), written
    // on every status; empty = none (see cors_lines).
    std::string_view cors;
};

// The CORS lines a response to `req` carries under `cfg` (edge/config.h's CorsConfig),
// written into `buf` when the origin is echoed; `any` is the fixed block for "*". Pure.
struct CorsPolicy {
    bool enabled = false;
    bool any = false;                 // "*"
    bool credentials = false;         // Access-Control-Allow-Credentials: true
    std::vector<std::string> origins; // when not any: exact, as browsers send them
    std::string any_lines;            // the block answered for "*"
    std::string preflight_lines;      // Allow-Methods, Allow-Headers, Max-Age
};
CorsPolicy make_cors_policy(bool enabled, const std::vector<std::string>& origins, bool credentials,
                            uint32_t max_age_s, const std::vector<std::string>& allow_headers);
// At least 400 bytes of `buf`; returns the lines (a view of policy or buf).
std::string_view cors_lines(const CorsPolicy& policy, std::string_view origin, char* buf,
                            size_t cap);

// OPTIONS: 204 with Allow; a CORS preflight (ctx.cors set, and `preflight`) adds the
// policy's Allow-Methods/Allow-Headers/Max-Age. No body. Returns 0 when cap is too small.
size_t write_options_response(char* buf, size_t cap, const HeadContext& ctx,
                              std::string_view preflight_lines);

// Writes the response head for a file plan. Returns its length, or 0 when cap is too small.
size_t write_file_head(char* buf, size_t cap, const Plan& plan, const FileMeta& file,
                       const HeadContext& ctx);

// Writes a complete error (or other bodiless-file) response: head plus a one-line text body
// "<status> <reason phrase>: <reason>\n" (no body for HEAD requests). `file` may be null; when
// set, validators and Accept-Ranges are included (412, 416).
size_t write_error_response(char* buf, size_t cap, uint16_t status, const char* reason,
                            const HeadContext& ctx, bool head_request, const FileMeta* file);

} // namespace vcdn::edge
