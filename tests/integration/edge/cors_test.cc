// CORS on a real `vcdn edge`: what lets a web player on the streaming service's page read the
// edge's answers. The preflight is answered before the signature, the target or any file is
// looked at; every status carries the headers.
#include "edge_fixture.h"

namespace vcdn::test {
namespace {

const char kKey[] = "k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
const std::string kExpose = "Content-Range, Content-Length, Accept-Ranges, ETag";

std::string preflight(const std::string& target, const std::string& origin) {
    return "OPTIONS " + target + " HTTP/1.1\r\nHost: t\r\nOrigin: " + origin +
           "\r\nAccess-Control-Request-Method: GET\r\n"
           "Access-Control-Request-Headers: range\r\n\r\n";
}

class Cors : public EdgeTest {
protected:
    void start_with(const std::string& cors_toml) {
        keys_dir_ = std::make_unique<TempDir>();
        key_file_ = *keys_dir_ / "keys.txt";
        write_file(key_file_, kKey);
        EdgeOptions o;
        o.args = {"--signing-keys", key_file_, "--require-signed-urls"};
        o.toml = cors_toml;
        start_edge(o);
    }
    std::string sign(const std::string& path) {
        RunResult r = run_command(
            {vcdn_binary(), "sign", "--key-file", key_file_, "--path", path, "--ttl", "600"});
        EXPECT_EQ(r.status, 0) << r.output;
        std::string out = r.output;
        while (!out.empty() && out.back() == '\n')
            out.pop_back();
        return out.substr(out.rfind('\n') + 1);
    }
    RawResponse get(const std::string& target, const std::string& origin,
                    const std::string& extra = "") {
        return fetch(
            port(),
            get_request(target, (origin.empty() ? "" : "Origin: " + origin + "\r\n") + extra));
    }
    std::unique_ptr<TempDir> keys_dir_;
    std::string key_file_;
};

TEST_F(Cors, ByDefaultAnyPageMayReadEveryAnswerAndPreflightsNeedNoSignature) {
    start_with("");
    const std::string page = "https://player.example";
    // The preflight: for a signed-URL edge, a file that exists and one that does not, and
    // `OPTIONS *` all get the same 204 (it reveals nothing, costs no disk work).
    std::string first;
    for (const std::string target : {"/t/1/v-235k.mp4", "/no/such/file.mp4", "*"}) {
        RawResponse r = fetch(port(), preflight(target, page));
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 204) << target << " " << r.body;
        EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*") << target;
        EXPECT_EQ(r.header("Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS");
        const std::string allowed = r.header("Access-Control-Allow-Headers");
        EXPECT_NE(allowed.find("Range"), std::string::npos) << allowed;
        EXPECT_EQ(r.header("Access-Control-Max-Age"), "86400");
        EXPECT_TRUE(r.header("Vary").empty());
        EXPECT_TRUE(r.body.empty());
        EXPECT_TRUE(r.header("Content-Length").empty()) << "a 204 has no Content-Length";
        std::string shape = r.header("Allow") + "|" + allowed;
        if (first.empty()) first = shape;
        EXPECT_EQ(shape, first) << target;
    }
    // Every status a player can meet carries the headers: 206, 200 (HEAD), 304, 403, 404, 416.
    const std::string url = sign("/t/1/v-235k.mp4");
    RawResponse r = get(url, page, "Range: bytes=0-99\r\n");
    ASSERT_EQ(r.head.status, 206) << r.body;
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(r.header("Access-Control-Expose-Headers"), kExpose);
    const std::string etag = r.header("ETag");
    r = get(url, page, "If-None-Match: " + etag + "\r\n");
    EXPECT_EQ(r.head.status, 304);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    r = get(url, page, "Range: bytes=999999999-\r\n");
    EXPECT_EQ(r.head.status, 416);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    r = get("/t/1/v-235k.mp4", page); // unsigned
    EXPECT_EQ(r.head.status, 403);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*") << "a player must see why";
    EXPECT_EQ(r.header("Access-Control-Expose-Headers"), kExpose);
    r = get(sign("/no/such/file.mp4"), page);
    EXPECT_EQ(r.head.status, 404);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    // Without an Origin too: a cache between the edge and the browser must not keep a copy
    // without the header and hand it to a page.
    r = get(url, "", "Range: bytes=0-99\r\n");
    EXPECT_EQ(r.head.status, 206);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    // Other methods are still refused, and say OPTIONS is allowed.
    r = fetch(port(), get_request("/t/1/v-235k.mp4", "Origin: " + page + "\r\n", "DELETE"));
    EXPECT_EQ(r.head.status, 405);
    EXPECT_EQ(r.header("Allow"), "GET, HEAD, OPTIONS");
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
    // The preflights are counted as 204s and logged.
    EXPECT_EQ(edge_.wait_metric("vcdn_http_responses_total", "code=\"204\"", 3), 3);
}

TEST_F(Cors, AListOfOriginsIsEchoedExactlyWithVaryAndOthersGetNothing) {
    start_with("[edge.cors]\nallow_origins = [\"https://player.example\", "
               "\"http://127.0.0.1:8080\"]\nallow_credentials = true\nmax_age_s = 600\n");
    RawResponse r = fetch(port(), preflight("/t/1/v-235k.mp4", "https://player.example"));
    ASSERT_EQ(r.head.status, 204);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://player.example");
    EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
    EXPECT_EQ(r.header("Access-Control-Max-Age"), "600");
    EXPECT_EQ(r.header("Vary"), "Origin");
    const std::string url = sign("/t/1/v-235k.mp4");
    r = get(url, "http://127.0.0.1:8080", "Range: bytes=0-9\r\n");
    EXPECT_EQ(r.head.status, 206);
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "http://127.0.0.1:8080");
    EXPECT_EQ(r.header("Vary"), "Origin");
    // Another page, a look-alike, none: no Allow-Origin, still Vary; the preflight says no
    // more than that.
    for (const std::string o :
         {"https://evil.example", "https://player.example.evil.example", "null", ""}) {
        r = get(url, o, "Range: bytes=0-9\r\n");
        EXPECT_EQ(r.head.status, 206) << o;
        EXPECT_TRUE(r.header("Access-Control-Allow-Origin").empty()) << o;
        EXPECT_EQ(r.header("Vary"), "Origin") << o;
    }
    r = fetch(port(), preflight("/t/1/v-235k.mp4", "https://evil.example"));
    EXPECT_EQ(r.head.status, 204);
    EXPECT_TRUE(r.header("Access-Control-Allow-Origin").empty());
    EXPECT_TRUE(r.header("Access-Control-Allow-Methods").empty());
}

TEST_F(Cors, OffMeansNoHeadersAndOptionsIsNotAllowed) {
    start_with("[edge.cors]\nenabled = false\n");
    RawResponse r = fetch(port(), preflight("/t/1/v-235k.mp4", "https://player.example"));
    EXPECT_EQ(r.head.status, 405);
    EXPECT_EQ(r.header("Allow"), "GET, HEAD");
    EXPECT_TRUE(r.header("Access-Control-Allow-Origin").empty());
    r = get(sign("/t/1/v-235k.mp4"), "https://player.example", "Range: bytes=0-9\r\n");
    EXPECT_EQ(r.head.status, 206);
    EXPECT_TRUE(r.header("Access-Control-Allow-Origin").empty());
}

} // namespace
} // namespace vcdn::test
