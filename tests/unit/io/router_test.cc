// The route table of the HTTP service core (io/http_service.h), without sockets.
#include <gtest/gtest.h>

#include <vcdn/io/http_service.h>

namespace vcdn::io {
namespace {

ApiRequest req(http::Method m, std::string_view path, std::string_view body = {}) {
    ApiRequest r;
    r.method = m;
    r.path = path;
    r.body = body;
    return r;
}

Router table() {
    Router r(json_error_answer);
    r.get("/a", [](const ApiRequest&) { return ApiResponse{200, "text/plain", "a", ""}; });
    r.get("/e/{id}", [](const ApiRequest& q) {
        return ApiResponse{200, "text/plain", "get " + std::string(q.param(0)), ""};
    });
    r.add(
        http::Method::kPost, "/e/{id}/beat",
        [](const ApiRequest& q) {
            return ApiResponse{200, "text/plain", "beat " + std::string(q.param(0)), ""};
        },
        10);
    r.add(http::Method::kDelete, "/e/{id}",
          [](const ApiRequest&) -> ApiResponse { throw std::runtime_error("boom"); });
    return r;
}

TEST(Router, MatchesPatternsAndParameters) {
    const Router r = table();
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/a")).body, "a");
    EXPECT_EQ(r.dispatch(req(http::Method::kHead, "/a")).body, "a") << "HEAD takes GET routes";
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/e/x1")).body, "get x1");
    EXPECT_EQ(r.dispatch(req(http::Method::kPost, "/e/x1/beat", "12345")).body, "beat x1");
}

// A last "{x...}" parameter takes the rest of the path, slashes included; never nothing, and
// never a folder.
TEST(Router, ARestParameterTakesTheRestOfThePath) {
    Router r(json_error_answer);
    r.get("/r/{path...}", [](const ApiRequest& q) {
        return ApiResponse{200, "text/plain", std::string(q.param(0)), ""};
    });
    r.get("/s/{site}/{rest...}", [](const ApiRequest& q) {
        return ApiResponse{200, "text/plain",
                           std::string(q.param(0)) + "|" + std::string(q.param(1)), ""};
    });
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/r/t/1/a.mp4")).body, "t/1/a.mp4");
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/r/a.mp4")).body, "a.mp4");
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/s/x/t/1/a")).body, "x|t/1/a");
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/r")).status, 404);
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/r/")).status, 404);
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/r/t/1/")).status, 404);
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/s/x")).status, 404);
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/s//a")).status, 404);
    EXPECT_THROW(r.get("/r/{p...}/x", [](const ApiRequest&) { return ApiResponse{}; }),
                 std::invalid_argument);
}

// X-Forwarded-For counts only from a trusted proxy, and only the entries proxies appended.
TEST(RealClient, TheRightmostAddressNotAProxyFromProxiesOnly) {
    const std::vector<IpPrefix> proxies = {*IpPrefix::parse("192.0.2.0/24"),
                                           *IpPrefix::parse("2001:db8:1::/48")};
    const IpAddress lb = *IpAddress::parse("192.0.2.10");
    const IpAddress other = *IpAddress::parse("198.51.100.7");
    auto seen = [&](const IpAddress& peer, std::string_view xff) {
        return real_client(peer, xff, proxies).to_string();
    };
    EXPECT_EQ(seen(lb, "203.0.113.5"), "203.0.113.5");
    EXPECT_EQ(seen(lb, " 203.0.113.5 "), "203.0.113.5");
    EXPECT_EQ(seen(lb, "10.0.0.1, 203.0.113.5"), "203.0.113.5");   // the client's own claim
    EXPECT_EQ(seen(lb, "203.0.113.5, 192.0.2.11"), "203.0.113.5"); // two proxies
    EXPECT_EQ(seen(lb, "192.0.2.12, 192.0.2.11"), "192.0.2.12");   // only proxies: the first
    EXPECT_EQ(seen(lb, "203.0.113.5:4711"), "203.0.113.5");
    EXPECT_EQ(seen(lb, "[2001:db8:9::1]:443"), "2001:db8:9::1");
    EXPECT_EQ(seen(lb, "2001:db8:9::1"), "2001:db8:9::1");
    EXPECT_EQ(seen(lb, "::ffff:203.0.113.5"), "203.0.113.5");
    EXPECT_EQ(seen(lb, ""), "192.0.2.10");
    EXPECT_EQ(seen(lb, "unknown"), "192.0.2.10");
    EXPECT_EQ(seen(lb, "203.0.113.5, unknown"), "192.0.2.10");
    EXPECT_EQ(seen(lb, "unknown, 203.0.113.5"), "203.0.113.5");
    EXPECT_EQ(seen(lb, "[2001:db8::1"), "192.0.2.10");
    EXPECT_EQ(seen(lb, std::string(100, '1')), "192.0.2.10");
    EXPECT_EQ(seen(other, "203.0.113.5"), "198.51.100.7"); // not a proxy: ignored
    EXPECT_EQ(real_client(lb, "203.0.113.5", {}).to_string(), "192.0.2.10");
    // Bounded: a list of 10,000 proxies' entries is read 32 deep, then the last one stands.
    std::string many = "203.0.113.5";
    for (int i = 0; i < 10000; ++i)
        many += ", 192.0.2.1";
    EXPECT_EQ(seen(lb, many), "192.0.2.1");
}

TEST(Router, UnknownPathsAre404AndOtherMethods405WithAllow) {
    const Router r = table();
    ApiResponse nf = r.dispatch(req(http::Method::kGet, "/nope"));
    EXPECT_EQ(nf.status, 404);
    EXPECT_NE(nf.body.find("\"code\":\"not-found\""), std::string::npos);
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/e")).status, 404);
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/e/")).status, 404) << "an empty parameter";
    EXPECT_EQ(r.dispatch(req(http::Method::kGet, "/e/x/beat/more")).status, 404);
    ApiResponse na = r.dispatch(req(http::Method::kPut, "/e/x1"));
    EXPECT_EQ(na.status, 405);
    EXPECT_EQ(na.extra_headers, "Allow: GET, DELETE, HEAD\r\n");
}

TEST(Router, BodyLimitsAndThrowingHandlersGetClearAnswers) {
    const Router r = table();
    ApiResponse big = r.dispatch(req(http::Method::kPost, "/e/x1/beat", "12345678901"));
    EXPECT_EQ(big.status, 413);
    EXPECT_NE(big.body.find("over 10 bytes"), std::string::npos);
    ApiResponse boom = r.dispatch(req(http::Method::kDelete, "/e/x1"));
    EXPECT_EQ(boom.status, 500);
    EXPECT_NE(boom.body.find("boom"), std::string::npos);
    EXPECT_EQ(r.largest_body(), Router::kDefaultMaxBody);
}

TEST(Router, TextErrorsAndAFallback) {
    Router r(text_error_answer);
    r.set_fallback([](const ApiRequest&) { return text_error_answer(404, "x", "try /metrics"); });
    ApiResponse a = r.dispatch(req(http::Method::kGet, "/other"));
    EXPECT_EQ(a.status, 404);
    EXPECT_EQ(a.body, "404 Not Found: try /metrics\n");
    EXPECT_THROW(r.get("no-slash", nullptr), std::invalid_argument);
    EXPECT_THROW(r.get("/{a}/{b}/{c}/{d}/{e}", nullptr), std::invalid_argument);
}

} // namespace
} // namespace vcdn::io
