#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <vcdn/http/mime.h>
#include <vcdn/http/response_parser.h>
#include <vcdn/http/response_writer.h>

namespace vcdn::http {
namespace {

TEST(ResponseParser, ParsesHead) {
    ResponseHead h;
    std::string err;
    std::string text = "HTTP/1.1 206 Partial Content\r\nContent-Length: 10\r\nConnection: close\r\n"
                       "Content-Range: bytes 0-9/100\r\n\r\nBODY";
    ASSERT_EQ(parse_response_head(text, &h, &err), ResponseParse::kComplete);
    EXPECT_EQ(h.status, 206);
    EXPECT_EQ(h.reason, "Partial Content");
    EXPECT_TRUE(h.has_content_length);
    EXPECT_EQ(h.content_length, 10u);
    EXPECT_TRUE(h.connection_close);
    ASSERT_NE(h.find("content-range"), nullptr);
    EXPECT_EQ(*h.find("content-range"), "bytes 0-9/100");
    EXPECT_EQ(text.substr(h.head_bytes), "BODY");
}

TEST(ResponseParser, IncompleteAndErrors) {
    ResponseHead h;
    std::string err;
    EXPECT_EQ(parse_response_head("HTTP/1.1 200 OK\r\n", &h, &err), ResponseParse::kIncomplete);
    EXPECT_EQ(parse_response_head("SPDY/3 200 OK\r\n\r\n", &h, &err), ResponseParse::kError);
    EXPECT_EQ(parse_response_head("HTTP/1.1 2x0 OK\r\n\r\n", &h, &err), ResponseParse::kError);
    EXPECT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", &h, &err),
              ResponseParse::kError);
}

TEST(ResponseWriter, BoundedAndReportsOverflow) {
    // GCC 12 at -O2 follows the buffer's size into the inlined writer and misreads the
    // (checked) overflow path below as a write past it (-Warray-bounds); hide the size.
    std::vector<char> storage(64);
    char* buf = storage.data();
    asm volatile("" : "+r"(buf));
    ResponseWriter w(buf, storage.size());
    w.status_line(206);
    w.header_u64("Content-Length", 123);
    EXPECT_FALSE(w.overflow());
    EXPECT_EQ(w.view(), "HTTP/1.1 206 Partial Content\r\nContent-Length: 123\r\n");
    w.header("X", std::string(100, 'x'));
    EXPECT_TRUE(w.overflow());
    EXPECT_LE(w.size(), storage.size());
}

TEST(ResponseWriter, NumbersAndStatusLinesAsTheGeneralFormattingWouldWriteThem) {
    std::vector<uint64_t> values{0, UINT64_MAX, UINT64_MAX - 1};
    for (uint64_t p = 1; p <= UINT64_MAX / 10; p *= 10)
        for (uint64_t v : {p - 1, p, p + 1, p * 9 + (p - 1), p * 5})
            values.push_back(v);
    for (uint64_t v : values) {
        char buf[32];
        ResponseWriter w(buf, sizeof buf);
        w.append_u64(v);
        EXPECT_EQ(w.view(), std::to_string(v));
    }
    char small[3];
    ResponseWriter tight(small, sizeof small);
    tight.append_u64(1234);
    EXPECT_TRUE(tight.overflow());
    for (uint16_t status : {200, 206, 304, 404, 416, 503}) {
        char buf[64];
        ResponseWriter w(buf, sizeof buf);
        w.status_line(status);
        EXPECT_EQ(w.view(),
                  "HTTP/1.1 " + std::to_string(status) + " " + status_reason(status) + "\r\n");
    }
}

TEST(Mime, VideoTypes) {
    EXPECT_EQ(content_type_for("t/1/v.mp4"), "video/mp4");
    EXPECT_EQ(content_type_for("a/seg.M4S"), "video/iso.segment");
    EXPECT_EQ(content_type_for("x.m3u8"), "application/vnd.apple.mpegurl");
    EXPECT_EQ(content_type_for("t/1/manifest.mpd"), "application/dash+xml");
    EXPECT_EQ(content_type_for("t/1/v/seg-1.cmfv"), "video/mp4");
    EXPECT_EQ(content_type_for("t/1/a/seg-1.cmfa"), "audio/mp4");
    EXPECT_EQ(content_type_for("t/1/a.aac"), "audio/aac");
    EXPECT_EQ(content_type_for("t/1/s.vtt"), "text/vtt");
    EXPECT_EQ(content_type_for("t/1/seg.ts"), "video/mp2t");
    EXPECT_EQ(content_type_for("x.mpd"), "application/dash+xml");
    EXPECT_EQ(content_type_for("dir.mp4/file"), "application/octet-stream");
    EXPECT_EQ(content_type_for("noext"), "application/octet-stream");
}

} // namespace
} // namespace vcdn::http
