#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vector>

#include <vcdn/edge/access_line.h>

namespace vcdn::edge {
namespace {

TEST(AccessLine, IsOneValidJsonLineWithEveryField) {
    AccessRecord r;
    char ts[19];
    format_iso_second(1795298464, ts);
    EXPECT_EQ(std::string(ts, 19), "2026-11-21T22:01:04");
    r.time_second = std::string_view(ts, 19);
    r.millis = 7;
    r.worker = 1;
    r.conn = 42;
    r.req = 3;
    r.client = "127.0.0.1:5000";
    r.method = "GET";
    r.path = "/t/1/v.mp4";
    r.range = "bytes=0-99";
    r.cc = "bbr";
    r.status = 206;
    r.bytes = 355;
    r.body_bytes = 100;
    r.duration_us = 85;
    r.rtt_us = 30;
    r.rttvar_us = 15;
    r.retrans = 1;
    r.delivery_rate = 123456789;
    r.cwnd = 10;
    char buf[4096];
    size_t n = format_access_line(r, buf, sizeof buf);
    std::string line(buf, n);
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["time"], "2026-11-21T22:01:04.007Z");
    EXPECT_EQ(j["worker"], 1);
    EXPECT_EQ(j["conn"], 42);
    EXPECT_EQ(j["req"], 3);
    EXPECT_EQ(j["client"], "127.0.0.1:5000");
    EXPECT_EQ(j["path"], "/t/1/v.mp4");
    EXPECT_EQ(j["range"], "bytes=0-99");
    EXPECT_EQ(j["status"], 206);
    EXPECT_EQ(j["bytes"], 355);
    EXPECT_EQ(j["body_bytes"], 100);
    EXPECT_EQ(j["duration_us"], 85);
    EXPECT_EQ(j["rtt_us"], 30);
    EXPECT_EQ(j["rttvar_us"], 15);
    EXPECT_EQ(j["retrans"], 1);
    EXPECT_EQ(j["delivery_rate"], 123456789);
    EXPECT_EQ(j["cwnd"], 10);
    EXPECT_EQ(j["cc"], "bbr");
    EXPECT_FALSE(j.contains("reason"));

    // A response the edge read no TCP_INFO for: no TCP fields (never zeros or stale ones), the
    // rest unchanged.
    r.tcp = false;
    auto k = nlohmann::json::parse(std::string(buf, format_access_line(r, buf, sizeof buf)));
    for (const char* f : {"rtt_us", "rttvar_us", "retrans", "delivery_rate", "cwnd"})
        EXPECT_FALSE(k.contains(f)) << f;
    EXPECT_EQ(k["cc"], "bbr");
    EXPECT_EQ(k["duration_us"], 85);
    EXPECT_EQ(k["status"], 206);
}

TEST(AccessLine, HostileBytesStayInsideTheirString) {
    AccessRecord r;
    r.time_second = "1970-01-01T00:00:00";
    std::string evil = "/a\"b\\c\n\x01\xff\"}{";
    r.path = evil;
    r.method = "G\"ET";
    r.reason = "bad \"thing\"";
    char buf[4096];
    auto j = nlohmann::json::parse(std::string(buf, format_access_line(r, buf, sizeof buf)));
    EXPECT_EQ(j["path"], "/a\"b\\c\n\x01\xc3\xbf\"}{"); // \xff is logged as U+00FF
    EXPECT_EQ(j["method"], "G\"ET");
    EXPECT_EQ(j["reason"], "bad \"thing\"");
}

TEST(AccessLine, SignaturesAreNotLogged) {
    AccessRecord r;
    r.time_second = "1970-01-01T00:00:00";
    char buf[4096];
    auto path = [&](const char* target) {
        r.path = target;
        return nlohmann::json::parse(
                   std::string(buf, format_access_line(r, buf, sizeof buf)))["path"]
            .get<std::string>();
    };
    EXPECT_EQ(path("/t/1/v.mp4?e=1795316160&k=k1&s=0123456789abcdef"),
              "/t/1/v.mp4?e=1795316160&k=k1&s=-");
    EXPECT_EQ(path("/t/1/v.mp4?s=abc&p=10.1.0.0%2F16&s=again"),
              "/t/1/v.mp4?s=-&p=10.1.0.0%2F16&s=-");
    EXPECT_EQ(path("/t/1/v.mp4?x=1&ss=2&s"), "/t/1/v.mp4?x=1&ss=2&s");
    EXPECT_EQ(path("/t/1/v.mp4?"), "/t/1/v.mp4?");
    EXPECT_EQ(path("/t/1/v.mp4?&&s="), "/t/1/v.mp4?&&s=-");
    EXPECT_EQ(path("/s=1/v.mp4"), "/s=1/v.mp4");
    // A title token's signature, in origin and absolute form; what is not a token stays.
    EXPECT_EQ(path("/vt=k1~1795316160~2~~AAAAAAAAAAAAAAAAAAAAAA/t/1/v.mp4"),
              "/vt=k1~1795316160~2~~-/t/1/v.mp4");
    EXPECT_EQ(path("http://edge:8080/vt=k1~1~2~10.0.0.0_8~SIG?x=1"),
              "http://edge:8080/vt=k1~1~2~10.0.0.0_8~-?x=1");
    EXPECT_EQ(path("/vt=nosig/t/1/v.mp4"), "/vt=nosig/t/1/v.mp4");
    EXPECT_EQ(path("/t/vt=k~1~2~~SIG/v.mp4"), "/t/vt=k~1~2~~SIG/v.mp4");
    // Still escaped, and bounded: a target of "s=" pairs cannot overflow the line.
    EXPECT_EQ(path("/a?s=\"&b=\n"), "/a?s=-&b=\n");
    std::string pairs = "/?";
    for (int i = 0; i < 20000; ++i)
        pairs += "s=&";
    std::vector<char> big(kMaxAccessLine);
    r.path = pairs;
    const size_t n = format_access_line(r, big.data(), big.size());
    auto j = nlohmann::json::parse(std::string(big.data(), n));
    EXPECT_EQ(j["path"].get<std::string>().find("s=&"), std::string::npos);
}

TEST(AccessLine, WorstCaseFieldsStillMakeCompleteJson) {
    AccessRecord r;
    r.time_second = "1970-01-01T00:00:00";
    std::string worst(100000, '\x01'); // every byte escapes to six
    r.path = r.range = r.client = r.method = r.cc = r.reason = worst;
    std::vector<char> buf(kMaxAccessLine);
    size_t n = format_access_line(r, buf.data(), buf.size());
    auto j = nlohmann::json::parse(std::string(buf.data(), n));
    EXPECT_EQ(j["path"].get<std::string>().size(), 1024u);
}

TEST(AccessLine, LongFieldsAreCutAndTheLineStaysBounded) {
    AccessRecord r;
    r.time_second = "1970-01-01T00:00:00";
    std::string huge(100000, '"');
    r.path = huge;
    r.range = huge;
    r.client = huge;
    char buf[512];
    size_t n = format_access_line(r, buf, sizeof buf);
    EXPECT_LE(n, sizeof buf);
    EXPECT_EQ(buf[n - 1], '\n');
}

TEST(AccessLine, IsoSeconds) {
    char ts[19];
    format_iso_second(0, ts);
    EXPECT_EQ(std::string(ts, 19), "1970-01-01T00:00:00");
    format_iso_second(951782399, ts);
    EXPECT_EQ(std::string(ts, 19), "2000-02-28T23:59:59");
}

} // namespace
} // namespace vcdn::edge
