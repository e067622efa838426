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
