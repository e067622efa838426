// HTTP/1.1 behaviour of a real `vcdn edge`, checked byte for byte over real sockets.
#include <sys/stat.h>

#include <vcdn/base/sha256.h>
#include <vcdn/http/date.h>

#include "edge_fixture.h"

namespace vcdn::test {
namespace {

const std::string kSmall = "t/1/v-235k.mp4";  // 117,500 bytes
const std::string kLarge = "t/1/v-3000k.mp4"; // 1,500,000 bytes

class HttpSemantics : public EdgeTest {
protected:
    void SetUp() override { start_edge(); }

    RawResponse get(const std::string& target, const std::string& extra = "") {
        return fetch(port(), get_request(target, extra));
    }
};

TEST_F(HttpSemantics, FullGetReturnsTheFileWithItsHeaders) {
    RawResponse r = get("/" + kSmall);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.head.status, 200);
    EXPECT_EQ(r.body, file_bytes(kSmall));
    EXPECT_EQ(r.header("Content-Length"), "117500");
    EXPECT_EQ(r.header("Content-Type"), "video/mp4");
    EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
    EXPECT_EQ(r.header("Server"), "vcdn");
    EXPECT_TRUE(http::parse_http_date(r.header("Date")).has_value()) << r.header("Date");
    struct stat st {};
    ASSERT_EQ(::stat((root() + "/" + kSmall).c_str(), &st), 0);
    EXPECT_EQ(r.header("Last-Modified"), http::http_date(st.st_mtim.tv_sec));
    EXPECT_EQ(r.header("ETag"), fmt::format("\"{:x}-{:x}\"", st.st_mtim.tv_sec, st.st_size));
    EXPECT_TRUE(r.header("Connection").empty()); // HTTP/1.1 keep-alive is implicit
}

TEST_F(HttpSemantics, LargeFileArrivesIntactWithItsCatalogHash) {
    RawResponse r = get("/" + kLarge);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.body.size(), 1500000u);
    std::string want;
    for (const auto& f : catalog_.files)
        if (f.path == "/" + kLarge) want = f.sha256;
    EXPECT_EQ(Sha256::hex_of(r.body), want);
}

// Manifests (which a live packager rewrites and players reload) get a short cache lifetime,
// media the one the operator sets: one policy per type, on 200, 206 and 304 alike.
TEST_F(HttpSemantics, ManifestsAndMediaHaveTheirOwnCachePolicy) {
    TempDir media, work, work2;
    write_file(media / "a.mpd", "<MPD/>\n");
    write_file(media / "a.m3u8", "#EXTM3U\n");
    write_file(media / "seg-1.m4s", std::string(1000, 's'));
    write_file(media / "v.mp4", std::string(1000, 'v'));
    EdgeProcess e;
    EdgeOptions o;
    o.args = {"--cache-control", "max-age=31536000, immutable"};
    ASSERT_TRUE(e.start(media.path(), work.path(), o)) << e.proc.stderr_text();
    struct Case {
        const char *path, *type, *cache;
    } cases[] = {
        {"/a.mpd", "application/dash+xml", "max-age=2"},
        {"/a.m3u8", "application/vnd.apple.mpegurl", "max-age=2"},
        {"/seg-1.m4s", "video/iso.segment", "max-age=31536000, immutable"},
        {"/v.mp4", "video/mp4", "max-age=31536000, immutable"},
    };
    for (const Case& c : cases) {
        RawResponse r = fetch(e.port, get_request(c.path, "Range: bytes=0-3\r\n"));
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 206) << c.path;
        EXPECT_EQ(r.header("Content-Type"), c.type) << c.path;
        EXPECT_EQ(r.header("Cache-Control"), c.cache) << c.path;
        RawResponse again =
            fetch(e.port, get_request(c.path, "If-None-Match: " + r.header("ETag") + "\r\n"));
        EXPECT_EQ(again.head.status, 304) << c.path;
        EXPECT_EQ(again.header("Cache-Control"), c.cache) << c.path;
    }
    // Not found is not cached as the file would be.
    EXPECT_EQ(fetch(e.port, get_request("/b.mpd")).header("Cache-Control"), "");
    // The operator's own manifest policy, or none.
    EdgeProcess none;
    o.args = {"--manifest-cache-control", ""};
    ASSERT_TRUE(none.start(media.path(), work2.path(), o)) << none.proc.stderr_text();
    RawResponse r = fetch(none.port, get_request("/a.mpd"));
    EXPECT_EQ(r.head.status, 200);
    EXPECT_EQ(r.header("Cache-Control"), "");
    EXPECT_EQ(fetch(none.port, get_request("/v.mp4")).header("Cache-Control"), "");
}

TEST_F(HttpSemantics, HeadHasGetHeadersAndNoBody) {
    UniqueFd fd = connect_to(port());
    std::string carry;
    ASSERT_TRUE(send_all(fd.get(), get_request("/" + kLarge, "Range: bytes=10-19\r\n", "HEAD")));
    RawResponse h = read_response(fd.get(), &carry, true);
    ASSERT_TRUE(h.ok) << h.error;
    EXPECT_EQ(h.head.status, 206);
    EXPECT_EQ(h.header("Content-Length"), "10");
    EXPECT_EQ(h.header("Content-Range"), "bytes 10-19/1500000");
    // If a body had been sent, it would be read as the next response's head.
    ASSERT_TRUE(send_all(fd.get(), get_request("/" + kSmall, "Range: bytes=0-3\r\n")));
    RawResponse g = read_response(fd.get(), &carry);
    ASSERT_TRUE(g.ok) << g.error;
    EXPECT_EQ(g.head.status, 206);
    EXPECT_EQ(g.body, file_bytes(kSmall).substr(0, 4));
    EXPECT_TRUE(carry.empty());
}

TEST_F(HttpSemantics, RangeFormsOnOneKeepAliveConnection) {
    const std::string data = file_bytes(kLarge);
    const uint64_t size = data.size();
    struct Case {
        std::string range;
        uint64_t first, last;
    } cases[] = {
        {"bytes=0-99", 0, 99},
        {"bytes=1000-", 1000, size - 1},
        {"bytes=-500", size - 500, size - 1},
        {"bytes=100-99999999999", 100, size - 1},
        {"bytes=1499999-", size - 1, size - 1},
        {"bytes=-99999999", 0, size - 1},
        {"bytes= 5-9", 5, 9},
        {"BYTES=5-9", 5, 9},
        {"bytes=0-0", 0, 0},
    };
    UniqueFd fd = connect_to(port());
    std::string carry;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.range);
        ASSERT_TRUE(send_all(fd.get(), get_request("/" + kLarge, "Range: " + c.range + "\r\n")));
        RawResponse r = read_response(fd.get(), &carry);
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 206);
        EXPECT_EQ(r.header("Content-Range"), fmt::format("bytes {}-{}/{}", c.first, c.last, size));
        EXPECT_EQ(r.header("Content-Length"), std::to_string(c.last - c.first + 1));
        EXPECT_EQ(r.body, data.substr(c.first, c.last - c.first + 1));
        EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
    }
}

TEST_F(HttpSemantics, UnsatisfiableAndInvalidRangesAre416) {
    for (std::string range : {"bytes=1500000-", "bytes=2000000-2000010", "bytes=-0", "bytes=5-1",
                              "bytes=abc", "bytes=", "bytes=1-2-3", "bytes=-"}) {
        SCOPED_TRACE(range);
        RawResponse r = get("/" + kLarge, "Range: " + range + "\r\n");
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 416);
        EXPECT_EQ(r.header("Content-Range"), "bytes */1500000");
        EXPECT_NE(r.body.find("416 Range Not Satisfiable"), std::string::npos) << r.body;
    }
    RawResponse e = get("/empty.bin", "Range: bytes=0-0\r\n");
    ASSERT_TRUE(e.ok);
    EXPECT_EQ(e.head.status, 416);
    EXPECT_EQ(e.header("Content-Range"), "bytes */0");
}

TEST_F(HttpSemantics, UnknownRangeUnitIsIgnored) {
    for (std::string range : {"items=0-1", "bytes 0-1"}) {
        RawResponse r = get("/" + kSmall, "Range: " + range + "\r\n");
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head.status, 200) << range;
        EXPECT_EQ(r.body.size(), 117500u);
    }
}

TEST_F(HttpSemantics, MultipleRangesCoalesceOrFallBackToTheWholeFile) {
    const std::string data = file_bytes(kSmall);
    RawResponse joined = get("/" + kSmall, "Range: bytes=0-9,10-19,15-29\r\n");
    ASSERT_TRUE(joined.ok);
    EXPECT_EQ(joined.head.status, 206);
    EXPECT_EQ(joined.header("Content-Range"), "bytes 0-29/117500");
    EXPECT_EQ(joined.body, data.substr(0, 30));
    RawResponse apart = get("/" + kSmall, "Range: bytes=0-9,100-109\r\n");
    ASSERT_TRUE(apart.ok);
    EXPECT_EQ(apart.head.status, 200);
    EXPECT_EQ(apart.body, data);
    RawResponse one_ok = get("/" + kSmall, "Range: bytes=999999-,0-4\r\n");
    ASSERT_TRUE(one_ok.ok);
    EXPECT_EQ(one_ok.head.status, 206);
    EXPECT_EQ(one_ok.body, data.substr(0, 5));
}

TEST_F(HttpSemantics, ConditionalRequests) {
    RawResponse base = get("/" + kSmall);
    ASSERT_TRUE(base.ok);
    const std::string etag = base.header("ETag");
    const std::string lm = base.header("Last-Modified");
    ASSERT_FALSE(etag.empty());
    const int64_t mtime = *http::parse_http_date(lm);

    auto status_of = [&](const std::string& headers) {
        RawResponse r = get("/" + kSmall, headers);
        EXPECT_TRUE(r.ok) << r.error;
        if (r.head.status == 304) {
            EXPECT_TRUE(r.body.empty());
            EXPECT_EQ(r.header("ETag"), etag);
            EXPECT_TRUE(r.header("Content-Length").empty());
        }
        return r.head.status;
    };
    EXPECT_EQ(status_of("If-None-Match: " + etag + "\r\n"), 304);
    EXPECT_EQ(status_of("If-None-Match: \"other\", W/" + etag + "\r\n"), 304);
    EXPECT_EQ(status_of("If-None-Match: *\r\n"), 304);
    EXPECT_EQ(status_of("If-None-Match: \"other\"\r\n"), 200);
    EXPECT_EQ(status_of("If-Modified-Since: " + lm + "\r\n"), 304);
    EXPECT_EQ(status_of("If-Modified-Since: " + http::http_date(mtime - 10) + "\r\n"), 200);
    EXPECT_EQ(status_of("If-Modified-Since: not a date\r\n"), 200);
    // If-None-Match wins over If-Modified-Since.
    EXPECT_EQ(status_of("If-None-Match: \"other\"\r\nIf-Modified-Since: " + lm + "\r\n"), 200);
    EXPECT_EQ(status_of("If-Match: \"other\"\r\n"), 412);
    EXPECT_EQ(status_of("If-Match: " + etag + "\r\n"), 200);
    EXPECT_EQ(status_of("If-Unmodified-Since: " + http::http_date(mtime - 10) + "\r\n"), 412);
    EXPECT_EQ(status_of("If-Unmodified-Since: " + lm + "\r\n"), 200);
    // If-Range: honoured when it matches, else the whole file.
    EXPECT_EQ(status_of("Range: bytes=0-9\r\nIf-Range: " + etag + "\r\n"), 206);
    EXPECT_EQ(status_of("Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n"), 200);
    EXPECT_EQ(status_of("Range: bytes=0-9\r\nIf-Range: W/" + etag + "\r\n"), 200);
    EXPECT_EQ(status_of("Range: bytes=0-9\r\nIf-Range: " + lm + "\r\n"), 206);
    EXPECT_EQ(status_of("Range: bytes=0-9\r\nIf-Range: " + http::http_date(mtime - 1) + "\r\n"),
              200);
    // A 304 also answers a HEAD.
    RawResponse h =
        fetch(port(), get_request("/" + kSmall, "If-None-Match: " + etag + "\r\n", "HEAD"), true);
    EXPECT_EQ(h.head.status, 304);
}

TEST_F(HttpSemantics, PipelinedRequestsAnsweredInOrder) {
    const std::string data = file_bytes(kLarge);
    UniqueFd fd = connect_to(port());
    std::string batch;
    for (int i = 0; i < 5; ++i)
        batch += get_request("/" + kLarge,
                             fmt::format("Range: bytes={}-{}\r\n", i * 1000, i * 1000 + 99));
    batch += get_request("/missing");
    batch += get_request("/" + kSmall, "", "HEAD");
    ASSERT_TRUE(send_all(fd.get(), batch));
    std::string carry;
    for (int i = 0; i < 5; ++i) {
        RawResponse r = read_response(fd.get(), &carry);
        ASSERT_TRUE(r.ok) << i << ": " << r.error;
        EXPECT_EQ(r.head.status, 206);
        EXPECT_EQ(r.body, data.substr(i * 1000, 100)) << i;
    }
    RawResponse missing = read_response(fd.get(), &carry);
    EXPECT_EQ(missing.head.status, 404);
    RawResponse head = read_response(fd.get(), &carry, true);
    EXPECT_EQ(head.head.status, 200);
    EXPECT_EQ(head.header("Content-Length"), "117500");
    // Still open and usable.
    ASSERT_TRUE(send_all(fd.get(), get_request("/" + kSmall, "Range: bytes=0-0\r\n")));
    EXPECT_EQ(read_response(fd.get(), &carry).head.status, 206);
    EXPECT_EQ(edge_.wait_metric("vcdn_pipelined_requests_total", "", 6), 6);
}

TEST_F(HttpSemantics, RequestSplitAcrossManyWrites) {
    UniqueFd fd = connect_to(port());
    std::string req = get_request("/" + kSmall, "Range: bytes=0-9\r\n");
    for (char c : req)
        ASSERT_TRUE(send_all(fd.get(), std::string(1, c)));
    std::string carry;
    RawResponse r = read_response(fd.get(), &carry);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.head.status, 206);
    EXPECT_EQ(r.body, file_bytes(kSmall).substr(0, 10));
}

TEST_F(HttpSemantics, Http10ClosesUnlessAskedToKeepAlive) {
    {
        UniqueFd fd = connect_to(port());
        ASSERT_TRUE(send_all(fd.get(), "GET /" + kSmall + " HTTP/1.0\r\nRange: bytes=0-9\r\n\r\n"));
        std::string carry;
        RawResponse r = read_response(fd.get(), &carry);
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.head_text.substr(0, 9), "HTTP/1.1 ");
        EXPECT_EQ(r.head.status, 206);
        EXPECT_EQ(r.header("Connection"), "close");
        EXPECT_TRUE(wait_closed(fd.get(), 2000));
    }
    {
        UniqueFd fd = connect_to(port());
        std::string req = "GET /" + kSmall + " HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
        ASSERT_TRUE(send_all(fd.get(), req));
        std::string carry;
        RawResponse r = read_response(fd.get(), &carry);
        ASSERT_TRUE(r.ok) << r.error;
        EXPECT_EQ(r.header("Connection"), "keep-alive");
        ASSERT_TRUE(send_all(fd.get(), req));
        EXPECT_EQ(read_response(fd.get(), &carry).head.status, 200);
    }
}

TEST_F(HttpSemantics, ConnectionCloseIsHonoured) {
    UniqueFd fd = connect_to(port());
    ASSERT_TRUE(send_all(fd.get(), get_request("/" + kSmall, "Connection: close\r\n")));
    std::string carry;
    RawResponse r = read_response(fd.get(), &carry);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.header("Connection"), "close");
    EXPECT_TRUE(wait_closed(fd.get(), 2000));
}

TEST_F(HttpSemantics, MethodsOtherThanGetAndHead) {
    RawResponse post =
        fetch(port(), "POST /" + kSmall + " HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(post.head.status, 405);
    EXPECT_EQ(post.header("Allow"), "GET, HEAD, OPTIONS"); // CORS is on by default
    EXPECT_EQ(fetch(port(), get_request("/" + kSmall, "", "DELETE")).head.status, 405);
    EXPECT_EQ(fetch(port(), get_request("/" + kSmall, "", "BREW")).head.status, 501);
    EXPECT_EQ(fetch(port(), get_request("/" + kSmall, "", "get")).head.status,
              501); // case-sensitive
}

TEST_F(HttpSemantics, NotFoundCases) {
    for (std::string t : {"/missing.mp4", "/t/1", "/t/1/", "/", "/dir", "/fifo", "/t/9/v-235k.mp4",
                          "/t/1/v-235k.mp4/x"}) {
        RawResponse r = get(t);
        ASSERT_TRUE(r.ok) << t << ": " << r.error;
        EXPECT_EQ(r.head.status, 404) << t;
        EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
        EXPECT_NE(r.body.find("404 Not Found: "), std::string::npos);
    }
}

TEST_F(HttpSemantics, NamesAreDecodedAndNormalised) {
    EXPECT_EQ(get("/a%20b.txt").body, "space in name\n");
    EXPECT_EQ(get("/a%20b.txt").header("Content-Type"), "text/plain; charset=utf-8");
    EXPECT_EQ(get("//t//1/./v-235k.mp4").body, file_bytes(kSmall));
    EXPECT_EQ(get("/t%2F1%2Fv-235k.mp4").body, file_bytes(kSmall));
    EXPECT_EQ(get("/" + kSmall + "?e=1&k=2&s=x").body, file_bytes(kSmall));
    EXPECT_EQ(get("/dir/x.bin").header("Content-Type"), "application/octet-stream");
    EXPECT_EQ(get("/empty.bin").header("Content-Length"), "0");
}

TEST_F(HttpSemantics, SymlinkInsideTheRootIsServed) {
    RawResponse r = get("/inside.mp4");
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.head.status, 200);
    EXPECT_EQ(r.body, file_bytes(kSmall));
}

TEST_F(HttpSemantics, CurlFetchesRangesByteExact) {
    TempDir tmp;
    std::string out = tmp / "out.bin";
    RunResult r = run_command({"curl", "-sS", "-f", "-r", "1000-2999", "-o", out,
                               fmt::format("http://127.0.0.1:{}/{}", port(), kLarge)});
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(read_file(out), file_bytes(kLarge).substr(1000, 2000));
    // curl resuming a download continues at the right byte.
    write_file(out, file_bytes(kLarge).substr(0, 700000));
    r = run_command({"curl", "-sS", "-f", "-C", "-", "-o", out,
                     fmt::format("http://127.0.0.1:{}/{}", port(), kLarge)});
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(read_file(out), file_bytes(kLarge));
}

} // namespace
} // namespace vcdn::test
