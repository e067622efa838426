#include <gtest/gtest.h>

#include <deque>
#include <string>

#include <vcdn/http/request_parser.h>

namespace vcdn::http {
namespace {

using namespace std::string_literals;

struct Parsed {
    ParseResult result;
    Request req;
};

// The parsed views point into the text, so every text parsed stays alive for the test run.
Parsed parse(const std::string& text, ParseLimits lim = {}) {
    static std::deque<std::string> keep;
    const std::string& s = keep.emplace_back(text);
    Parsed p;
    ScanState scan;
    p.result = parse_request(s.data(), s.size(), lim, &scan, &p.req);
    return p;
}

TEST(RequestParser, SimpleGet) {
    auto p = parse("GET /t/1/v.mp4 HTTP/1.1\r\nHost: edge\r\nRange: bytes=0-99\r\n\r\n");
    ASSERT_EQ(p.result.status, ParseStatus::kComplete);
    EXPECT_EQ(p.req.method, Method::kGet);
    EXPECT_EQ(p.req.target, "/t/1/v.mp4");
    EXPECT_EQ(p.req.version_minor, 1);
    EXPECT_EQ(p.req.host, "edge");
    EXPECT_EQ(p.req.range, "bytes=0-99");
    EXPECT_EQ(p.req.header_count, 2);
    EXPECT_EQ(p.req.head_bytes, 58u);
}

TEST(RequestParser, HeaderNamesAreCaseInsensitiveAndValuesTrimmed) {
    auto p =
        parse("HEAD / HTTP/1.0\r\nhOsT:   a  \r\nIF-NONE-MATCH:\t\"x\"\t\r\n"
              "if-modified-since: Sun, 06 Nov 1994 08:49:37 GMT\r\nCONNECTION: Keep-Alive\r\n\r\n");
    ASSERT_EQ(p.result.status, ParseStatus::kComplete);
    EXPECT_EQ(p.req.method, Method::kHead);
    EXPECT_EQ(p.req.version_minor, 0);
    EXPECT_EQ(p.req.host, "a");
    EXPECT_EQ(p.req.if_none_match, "\"x\"");
    EXPECT_EQ(p.req.if_modified_since, "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_TRUE(p.req.connection_keep_alive);
    EXPECT_FALSE(p.req.connection_close);
}

TEST(RequestParser, CorsHeadersOfAPreflight) {
    auto p = parse("OPTIONS /t/1/v.mp4 HTTP/1.1\r\nHost: edge\r\nOrigin: https://player.example\r\n"
                   "Access-Control-Request-Method: GET\r\n"
                   "Access-Control-Request-Headers: range\r\n\r\n");
    ASSERT_EQ(p.result.status, ParseStatus::kComplete);
    EXPECT_EQ(p.req.method, Method::kOptions);
    EXPECT_EQ(p.req.origin, "https://player.example");
    EXPECT_TRUE(p.req.cors_preflight);
    p = parse("GET / HTTP/1.1\r\nHost: edge\r\norigin: null\r\n\r\n");
    EXPECT_EQ(p.req.origin, "null");
    EXPECT_FALSE(p.req.cors_preflight);
}

TEST(RequestParser, ConnectionTokenList) {
    auto p = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\n\r\n");
    ASSERT_EQ(p.result.status, ParseStatus::kComplete);
    EXPECT_TRUE(p.req.connection_close);
}

TEST(RequestParser, BareLfAndLeadingEmptyLinesAreAccepted) {
    auto p = parse("\r\n\nGET /x HTTP/1.1\nHost: a\n\n");
    ASSERT_EQ(p.result.status, ParseStatus::kComplete);
    EXPECT_EQ(p.req.target, "/x");
    EXPECT_EQ(p.req.head_bytes, 28u);
}

TEST(RequestParser, IncompleteUntilTheEmptyLine) {
    const std::string full = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    for (size_t n = 0; n < full.size(); ++n) {
        ScanState scan;
        Request r;
        auto res = parse_request(full.data(), n, ParseLimits{}, &scan, &r);
        EXPECT_EQ(res.status, ParseStatus::kIncomplete) << n;
    }
}

TEST(RequestParser, ResumableScanGivesTheSameResult) {
    const std::string full = "GET /resume HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\nGET /next";
    ScanState scan;
    Request r;
    ParseResult res;
    for (size_t n = 1; n <= full.size(); ++n) {
        res = parse_request(full.data(), n, ParseLimits{}, &scan, &r);
        if (res.status == ParseStatus::kComplete) break;
        ASSERT_EQ(res.status, ParseStatus::kIncomplete) << n;
    }
    ASSERT_EQ(res.status, ParseStatus::kComplete);
    EXPECT_EQ(r.target, "/resume");
    EXPECT_EQ(full.substr(r.head_bytes), "GET /next");
}

TEST(RequestParser, PipelinedHeadsParseOneAtATime) {
    const std::string two = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    auto p = parse(two);
    ASSERT_EQ(p.result.status, ParseStatus::kComplete);
    EXPECT_EQ(p.req.target, "/a");
    auto q = parse(two.substr(p.req.head_bytes));
    ASSERT_EQ(q.result.status, ParseStatus::kComplete);
    EXPECT_EQ(q.req.target, "/b");
}

struct BadCase {
    const char* name;
    std::string text;
    uint16_t status;
};

class RequestParserErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(RequestParserErrors, Refused) {
    auto p = parse(GetParam().text);
    ASSERT_EQ(p.result.status, ParseStatus::kError) << GetParam().name;
    EXPECT_EQ(p.result.error_status, GetParam().status) << GetParam().name;
    EXPECT_NE(p.result.error_reason, nullptr);
}

INSTANTIATE_TEST_SUITE_P(
    All, RequestParserErrors,
    ::testing::Values(
        BadCase{"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        BadCase{"obs_fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400},
        BadCase{"no_colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
        BadCase{"empty_name", "GET / HTTP/1.1\r\n: a\r\n\r\n", 400},
        BadCase{"ctl_in_value", std::string("GET / HTTP/1.1\r\nX: a\x01\r\n\r\n"), 400},
        BadCase{"nul_in_value", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"s, 400},
        BadCase{"bare_cr", "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400},
        BadCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        BadCase{"cl_and_te", "GET / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: x\r\n\r\n",
                400},
        BadCase{"bad_cl", "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
        BadCase{"conflicting_cl",
                "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        BadCase{"http09", "GET /\r\n\r\n", 400},
        BadCase{"double_space", "GET  / HTTP/1.1\r\n\r\n", 400},
        BadCase{"bad_version", "GET / HTTP/1.x\r\n\r\n", 400},
        BadCase{"lower_version", "GET / http/1.1\r\n\r\n", 400},
        BadCase{"http2", "GET / HTTP/2.0\r\n\r\n", 505},
        BadCase{"bad_method_char", "G(T / HTTP/1.1\r\n\r\n", 400},
        BadCase{"tls_hello_prefix", "\x16\x03\x01\x00"s, 400},
        BadCase{"space_in_target", "GET /a b HTTP/1.1\r\n\r\n", 400}));

TEST(RequestParser, Limits) {
    ParseLimits lim;
    lim.max_head_bytes = 256;
    lim.max_target_bytes = 64;
    lim.max_headers = 3;
    EXPECT_EQ(parse("GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n", lim).result.error_status,
              414);
    EXPECT_EQ(
        parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", lim).result.error_status,
        431);
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", lim).result.status,
              ParseStatus::kComplete);
    // An unfinished head that already fills the limit is refused without waiting for more.
    EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: " + std::string(300, 'x'), lim).result.error_status, 431);
    // An unfinished request line longer than any target could be: 414 early.
    EXPECT_EQ(parse("GET /" + std::string(120, 'a'), lim).result.error_status, 414);
    EXPECT_EQ(
        parse("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n").result.error_status,
        400);
}

TEST(RequestParser, MethodTokens) {
    EXPECT_EQ(method_from_token("GET", 3), Method::kGet);
    EXPECT_EQ(method_from_token("HEAD", 4), Method::kHead);
    EXPECT_EQ(method_from_token("OPTIONS", 7), Method::kOptions);
    EXPECT_EQ(method_from_token("get", 3), Method::kOther);
    EXPECT_EQ(method_from_token("PROPFIND", 8), Method::kOther);
    EXPECT_STREQ(method_name(Method::kDelete), "DELETE");
}

} // namespace
} // namespace vcdn::http
