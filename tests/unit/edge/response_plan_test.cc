#include <gtest/gtest.h>

#include <deque>

#include <vcdn/edge/response_plan.h>
#include <vcdn/http/request_parser.h>

namespace vcdn::edge {
namespace {

const FileMeta kFile{1000, 1700000000, "\"abc-3e8\"", "Tue, 14 Nov 2023 22:13:20 GMT", "video/mp4"};

// The parsed views point into the text, so every text parsed stays alive for the test run.
http::Request req(const std::string& text) {
    static std::deque<std::string> store;
    const std::string& keep = store.emplace_back(text);
    http::Request r;
    http::ScanState s;
    auto res = http::parse_request(keep.data(), keep.size(), http::ParseLimits{}, &s, &r);
    EXPECT_EQ(res.status, http::ParseStatus::kComplete);
    return r;
}

TEST(Plan, FullAndPartial) {
    Plan full = plan_file_response(req("GET /f HTTP/1.1\r\nHost: h\r\n\r\n"), kFile);
    EXPECT_EQ(full.status, 200);
    EXPECT_TRUE(full.send_file_body);
    EXPECT_EQ(full.offset, 0u);
    EXPECT_EQ(full.length, 1000u);
    Plan part =
        plan_file_response(req("GET /f HTTP/1.1\r\nHost: h\r\nRange: bytes=10-19\r\n\r\n"), kFile);
    EXPECT_EQ(part.status, 206);
    EXPECT_TRUE(part.partial);
    EXPECT_EQ(part.offset, 10u);
    EXPECT_EQ(part.length, 10u);
    Plan head =
        plan_file_response(req("HEAD /f HTTP/1.1\r\nHost: h\r\nRange: bytes=10-19\r\n\r\n"), kFile);
    EXPECT_EQ(head.status, 206);
    EXPECT_FALSE(head.send_file_body);
    EXPECT_EQ(head.length, 10u);
}

TEST(Plan, PreconditionsBeforeRange) {
    Plan nm = plan_file_response(
        req("GET /f HTTP/1.1\r\nHost: h\r\nIf-None-Match: \"abc-3e8\"\r\nRange: bytes=0-1\r\n\r\n"),
        kFile);
    EXPECT_EQ(nm.status, 304);
    EXPECT_FALSE(nm.send_file_body);
    Plan pf =
        plan_file_response(req("GET /f HTTP/1.1\r\nHost: h\r\nIf-Match: \"x\"\r\n\r\n"), kFile);
    EXPECT_EQ(pf.status, 412);
    Plan un =
        plan_file_response(req("GET /f HTTP/1.1\r\nHost: h\r\nRange: bytes=1000-\r\n\r\n"), kFile);
    EXPECT_EQ(un.status, 416);
    EXPECT_TRUE(un.unsatisfiable);
    Plan ir = plan_file_response(
        req("GET /f HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nIf-Range: \"old\"\r\n\r\n"), kFile);
    EXPECT_EQ(ir.status, 200);
    EXPECT_EQ(ir.length, 1000u);
}

TEST(Plan, EmptyFileHasNoBodyToSend) {
    FileMeta empty = kFile;
    empty.size = 0;
    Plan p = plan_file_response(req("GET /f HTTP/1.1\r\nHost: h\r\n\r\n"), empty);
    EXPECT_EQ(p.status, 200);
    EXPECT_FALSE(p.send_file_body);
}

TEST(Checks, RequestAndHost) {
    EXPECT_EQ(check_request(req("GET / HTTP/1.1\r\n\r\n")).status, 400);
    EXPECT_EQ(check_request(req("GET / HTTP/1.0\r\n\r\n")).status, 0);
    EXPECT_EQ(check_request(req("POST / HTTP/1.1\r\nHost: h\r\n\r\n")).status, 405);
    EXPECT_EQ(check_request(req("BREW / HTTP/1.1\r\nHost: h\r\n\r\n")).status, 501);
    EXPECT_EQ(
        check_request(req("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n")).status, 0);
    EXPECT_EQ(check_request(req("GET / HTTP/1.1\r\nHost: h\r\nExpect: x\r\n\r\n")).status, 417);

    std::vector<std::string> none, names = {"edge.example", "[::1]"};
    auto r = req("GET / HTTP/1.1\r\nHost: EDGE.example:8080\r\n\r\n");
    EXPECT_EQ(check_host(r, "", none).status, 0);
    EXPECT_EQ(check_host(r, "", names).status, 0);
    EXPECT_EQ(check_host(req("GET / HTTP/1.1\r\nHost: evil\r\n\r\n"), "", names).status, 404);
    EXPECT_EQ(check_host(req("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), "", names).status, 0);
    EXPECT_EQ(check_host(r, "other:8080", none).status, 400);
    EXPECT_EQ(check_host(r, "edge.example", names).status, 0);
    EXPECT_EQ(check_host(req("GET / HTTP/1.0\r\n\r\n"), "evil", names).status, 404);
}

TEST(Heads, FileHeadIsExact) {
    char buf[512];
    Plan p;
    p.status = 206;
    p.partial = true;
    p.offset = 10;
    p.length = 10;
    HeadContext ctx{"Sun, 06 Nov 1994 08:49:37 GMT", true, false, ""};
    size_t n = write_file_head(buf, sizeof buf, p, kFile, ctx);
    EXPECT_EQ(
        std::string(buf, n),
        "HTTP/1.1 206 Partial Content\r\nServer: vcdn\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Content-Type: video/mp4\r\nContent-Length: 10\r\nContent-Range: bytes 10-19/1000\r\n"
        "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nETag: \"abc-3e8\"\r\n"
        "Accept-Ranges: bytes\r\n\r\n");
    ctx.keep_alive = false;
    ctx.cache_control = "public, max-age=86400";
    n = write_file_head(buf, sizeof buf, p, kFile, ctx);
    std::string s(buf, n);
    EXPECT_NE(s.find("Cache-Control: public, max-age=86400\r\n"), std::string::npos);
    EXPECT_NE(s.find("Connection: close\r\n\r\n"), std::string::npos);
    ctx.keep_alive = true;
    ctx.http10 = true;
    n = write_file_head(buf, sizeof buf, p, kFile, ctx);
    EXPECT_NE(std::string(buf, n).find("Connection: keep-alive\r\n"), std::string::npos);
    EXPECT_EQ(write_file_head(buf, 50, p, kFile, ctx), 0u);
}

TEST(Heads, ErrorResponses) {
    char buf[768];
    HeadContext ctx{"Sun, 06 Nov 1994 08:49:37 GMT", false, false, ""};
    size_t n = write_error_response(buf, sizeof buf, 405, "only GET and HEAD are allowed", ctx,
                                    false, nullptr);
    std::string s(buf, n);
    EXPECT_NE(s.find("HTTP/1.1 405 Method Not Allowed\r\n"), std::string::npos);
    EXPECT_NE(s.find("Allow: GET, HEAD\r\n"), std::string::npos);
    EXPECT_NE(s.find("Connection: close\r\n"), std::string::npos);
    const std::string body = "405 Method Not Allowed: only GET and HEAD are allowed\n";
    EXPECT_EQ(s.substr(s.size() - body.size()), body);
    EXPECT_NE(s.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
    n = write_error_response(buf, sizeof buf, 416, "range not satisfiable", ctx, true, &kFile);
    s = std::string(buf, n);
    EXPECT_NE(s.find("Content-Range: bytes */1000\r\n"), std::string::npos);
    EXPECT_EQ(s.substr(s.size() - 4), "\r\n\r\n"); // HEAD: no body
}

CorsPolicy any_origin() {
    return make_cors_policy(true, {"*"}, false, 600, {"Range", "If-Range"});
}

TEST(Cors, AnyOriginIsOneFixedBlockOnEveryStatusWithoutVary) {
    const CorsPolicy p = any_origin();
    char scratch[400];
    const std::string_view lines = cors_lines(p, "https://player.example", scratch, sizeof scratch);
    EXPECT_EQ(lines, "Access-Control-Allow-Origin: *\r\nAccess-Control-Expose-Headers: "
                     "Content-Range, Content-Length, Accept-Ranges, ETag\r\n");
    EXPECT_EQ(cors_lines(p, "", scratch, sizeof scratch), lines) << "also without an Origin";
    HeadContext ctx{"Sun, 06 Nov 1994 08:49:37 GMT", true, false, "", lines};
    char buf[768];
    Plan pl;
    pl.status = 206;
    pl.partial = true;
    pl.offset = 0;
    pl.length = 10;
    EXPECT_NE(std::string(buf, write_file_head(buf, sizeof buf, pl, kFile, ctx)).find(lines),
              std::string::npos);
    pl = Plan{};
    pl.status = 304;
    EXPECT_NE(std::string(buf, write_file_head(buf, sizeof buf, pl, kFile, ctx)).find(lines),
              std::string::npos);
    for (uint16_t status : {403, 404, 416, 503}) {
        const std::string s(buf, write_error_response(buf, sizeof buf, status, "why", ctx, false,
                                                      status == 416 ? &kFile : nullptr));
        EXPECT_NE(s.find(lines), std::string::npos) << status;
        EXPECT_EQ(s.find("Vary:"), std::string::npos) << status;
    }
    // A preflight: 204, no body, the allowed methods and headers and how long to keep them.
    const std::string o(buf, write_options_response(buf, sizeof buf, ctx, p.preflight_lines));
    EXPECT_EQ(o, "HTTP/1.1 204 No Content\r\nServer: vcdn\r\nDate: Sun, 06 Nov 1994 08:49:37 "
                 "GMT\r\nAllow: GET, HEAD, OPTIONS\r\n" +
                     std::string(lines) +
                     "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                     "Access-Control-Allow-Headers: Range, If-Range\r\n"
                     "Access-Control-Max-Age: 600\r\n\r\n");
}

TEST(Cors, AListEchoesOnlyItsOwnOriginsAndAlwaysVaries) {
    const CorsPolicy p =
        make_cors_policy(true, {"https://a.example", "http://b.example:8080"}, true, 60, {"Range"});
    char scratch[400];
    EXPECT_EQ(cors_lines(p, "https://a.example", scratch, sizeof scratch),
              "Access-Control-Allow-Origin: https://a.example\r\n"
              "Access-Control-Allow-Credentials: true\r\n"
              "Access-Control-Expose-Headers: Content-Range, Content-Length, Accept-Ranges, "
              "ETag\r\nVary: Origin\r\n");
    // Another origin, a prefix of an allowed one, a longer one, none: Vary only.
    for (const char* o :
         {"https://evil.example", "https://a.exampl", "https://a.example.evil", "null", ""})
        EXPECT_EQ(cors_lines(p, o, scratch, sizeof scratch), "Vary: Origin\r\n") << o;
    // A preflight from an origin not allowed gets no Allow-Methods/Headers either.
    HeadContext ctx{"Sun, 06 Nov 1994 08:49:37 GMT", true, false, "", "Vary: Origin\r\n"};
    char buf[768];
    const std::string o(buf, write_options_response(buf, sizeof buf, ctx, p.preflight_lines));
    EXPECT_EQ(o.find("Access-Control-"), std::string::npos) << o;
    EXPECT_NE(o.find("HTTP/1.1 204 No Content\r\n"), std::string::npos);
    // Off: nothing.
    EXPECT_EQ(cors_lines(make_cors_policy(false, {"*"}, false, 1, {}), "https://a.example", scratch,
                         sizeof scratch),
              "");
}

TEST(Cors, OptionsPassesTheChecksOnlyWhenCorsIsOn) {
    auto r = req("OPTIONS * HTTP/1.1\r\nHost: e\r\n\r\n");
    EXPECT_EQ(check_request(r, false).status, 405);
    EXPECT_EQ(check_request(r, true).status, 0);
    EXPECT_EQ(check_request(req("OPTIONS / HTTP/1.1\r\n\r\n"), true).status, 400)
        << "Host is still required";
    EXPECT_EQ(check_request(req("POST / HTTP/1.1\r\nHost: e\r\n\r\n"), true).status, 405);
}

// The longest CORS block validate_cors allows, with the longest error head, fits the
// connection's 768-byte head buffer (worker.h's kHeadCap).
TEST(Cors, TheLongestAllowedLinesFitTheConnectionsHead) {
    const std::string origin = "https://" + std::string(92, 'a'); // 100 bytes
    std::vector<std::string> headers;
    for (int i = 0; i < 8; ++i) // 8 * (14 + 2) = 128 bytes
        headers.push_back(std::string(14, 'x'));
    const CorsPolicy p = make_cors_policy(true, {origin}, true, 604800, headers);
    char scratch[400];
    const std::string_view lines = cors_lines(p, origin, scratch, sizeof scratch);
    ASSERT_FALSE(lines.empty());
    const std::string cache_control(80, 'c');
    HeadContext ctx{"Sun, 06 Nov 1994 08:49:37 GMT", false, true, cache_control, lines};
    const FileMeta big{~0ull, 1700000000, "\"0123456789abcdef-ffffffffffffffff\"",
                       "Tue, 14 Nov 2023 22:13:20 GMT", "application/vnd.apple.mpegurl"};
    char buf[768];
    EXPECT_GT(write_error_response(buf, sizeof buf, 416, "range not satisfiable", ctx, false, &big),
              0u);
    EXPECT_GT(write_options_response(buf, sizeof buf, ctx, p.preflight_lines), 0u);
    Plan pl;
    pl.status = 206;
    pl.partial = true;
    pl.offset = 1ull << 62;
    pl.length = 1ull << 61;
    EXPECT_GT(write_file_head(buf, sizeof buf, pl, big, ctx), 0u);
}

} // namespace
} // namespace vcdn::edge
