#include <gtest/gtest.h>

#include <vcdn/fill/fill.h>

namespace vcdn::fill {
namespace {

TEST(FillWindow, AlwaysAndDailyWindowsAcrossMidnight) {
    auto always = FillWindow::parse("always");
    ASSERT_TRUE(always);
    EXPECT_TRUE(always->contains(0));
    EXPECT_TRUE(always->contains(1439));
    auto night = FillWindow::parse("22:30+8h"); // 22:30 .. 06:30
    ASSERT_TRUE(night);
    EXPECT_FALSE(night->contains(22 * 60 + 29));
    EXPECT_TRUE(night->contains(22 * 60 + 30));
    EXPECT_TRUE(night->contains(0));
    EXPECT_TRUE(night->contains(6 * 60 + 29));
    EXPECT_FALSE(night->contains(6 * 60 + 30));
    auto short_one = FillWindow::parse("02:00+90m");
    ASSERT_TRUE(short_one);
    EXPECT_TRUE(short_one->contains(3 * 60 + 29));
    EXPECT_FALSE(short_one->contains(3 * 60 + 30));
    EXPECT_TRUE(FillWindow::parse("00:00+24h")->contains(777));
    for (const char* bad : {"", "2:00+1h", "24:00+1h", "02:60+1h", "02:00+0h", "02:00+25h",
                            "02:00-1h", "02:00+1d", "02:00+h", "nightly"})
        EXPECT_FALSE(FillWindow::parse(bad)) << bad;
}

TEST(TokenBucket, HoldsTheRateOverTime) {
    TokenBucket b(1000, 100, 0); // 1000 B/s, burst 100
    EXPECT_TRUE(b.open());
    b.take(600); // a transfer hands over more than there is: debt
    EXPECT_FALSE(b.open());
    b.refill(400000); // +400
    EXPECT_FALSE(b.open());
    b.refill(600000); // +200 more: back to +100
    EXPECT_TRUE(b.open());
    b.refill(10000000); // capped at the burst
    EXPECT_DOUBLE_EQ(b.tokens(), 100);
    // Simulated: takes of 64 whenever open, for 10 s: the total is the rate × time (+ burst).
    TokenBucket c(1000, 100, 0);
    uint64_t total = 0;
    for (int64_t us = 0; us <= 10000000; us += 1000) {
        c.refill(us);
        if (c.open()) {
            c.take(64);
            total += 64;
        }
    }
    EXPECT_NEAR(static_cast<double>(total), 10000, 200);
}

TEST(SafePath, RefusesEscapesAndHiddenFiles) {
    for (const char* ok : {"/t/1/v.mp4", "/a", "/a/b-c_d.e"})
        EXPECT_TRUE(safe_path(ok)) << ok;
    for (const char* bad : {"", "/", "t/1.mp4", "/../etc/passwd", "/t/../x", "/t/./x", "/t//x",
                            "/.vcdn-fill/x.part", "/t/.hidden", "/t/", "/a\\b"})
        EXPECT_FALSE(safe_path(bad)) << bad;
    EXPECT_FALSE(safe_path(std::string("/a\0b", 4)));
    EXPECT_FALSE(safe_path("/" + std::string(1100, 'a')));
}

const std::string kSha(64, 'a');

std::string manifest_with(const std::string& file_json) {
    return R"({"edge":"e1","version":3,"escalation":{"peer_wait_ms":5,"tier_wait_ms":9},
               "origin_token":"t","files":[)" +
           file_json + "]}";
}

TEST(ParseManifest, ReadsFilesAndSources) {
    auto m = parse_manifest(
        manifest_with(R"({"path":"/t/1/v.mp4","size":10,"sha256":")" + kSha +
                      R"(","tier":"flash","sources":[{"kind":"peer","url":"http://a:1","edge":"a"},
           {"kind":"origin","url":"https://o"}]})"));
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->edge, "e1");
    EXPECT_EQ(m->version, 3);
    EXPECT_EQ(m->peer_wait_ms, 5u);
    EXPECT_EQ(m->tier_wait_ms, 9u);
    EXPECT_EQ(m->origin_token, "t");
    ASSERT_EQ(m->files.size(), 1u);
    EXPECT_TRUE(m->files[0].flash);
    ASSERT_EQ(m->files[0].sources.size(), 2u);
    EXPECT_EQ(m->files[0].sources[0].kind, SourceKind::kPeer);
    EXPECT_EQ(m->files[0].sources[0].edge, "a");
    EXPECT_EQ(m->files[0].sources[1].kind, SourceKind::kOrigin);
}

TEST(ParseManifest, RefusesWhatCouldHurtTheEdge) {
    const std::string good_src = R"("sources":[{"kind":"origin","url":"http://o:1"}])";
    auto file = [&](const std::string& path, const std::string& sha, const std::string& src) {
        return R"({"path":")" + path + R"(","size":10,"sha256":")" + sha + R"(",)" + src + "}";
    };
    EXPECT_TRUE(parse_manifest(manifest_with(file("/a.mp4", kSha, good_src))));
    EXPECT_FALSE(parse_manifest(manifest_with(file("/../a.mp4", kSha, good_src))));
    EXPECT_FALSE(parse_manifest(manifest_with(file("/.vcdn-fill/x", kSha, good_src))));
    EXPECT_FALSE(parse_manifest(manifest_with(file("/a.mp4", "abc", good_src))));
    EXPECT_FALSE(parse_manifest(manifest_with(file("/a.mp4", std::string(64, 'G'), good_src))));
    EXPECT_FALSE(parse_manifest(
        manifest_with(file("/a.mp4", kSha, R"("sources":[{"kind":"x","url":"http://o"}])"))));
    EXPECT_FALSE(parse_manifest(
        manifest_with(file("/a.mp4", kSha, R"("sources":[{"kind":"peer","url":"ftp://o"}])"))));
    EXPECT_FALSE(parse_manifest(
        manifest_with(file("/a.mp4", kSha, R"("sources":[{"kind":"peer","url":"http://o/x"}])"))));
    EXPECT_FALSE(parse_manifest("{"));
    EXPECT_FALSE(parse_manifest("[]"));
    EXPECT_FALSE(parse_manifest(R"({"edge":"e","version":"x","files":[]})"));
    EXPECT_FALSE(parse_manifest(R"({"edge":"e","version":1,"files":{}})"));
    // Numbers that are not integers in range (a float cast would be undefined behaviour).
    EXPECT_FALSE(parse_manifest(R"({"edge":"e","version":1e300,"files":[]})"));
    EXPECT_FALSE(parse_manifest(R"({"edge":"e","version":-1,"files":[]})"));
    EXPECT_FALSE(parse_manifest(
        R"({"edge":"e","version":1,"escalation":{"peer_wait_ms":-5.5},"files":[]})"));
    EXPECT_FALSE(parse_manifest(
        R"({"edge":"e","version":1,"escalation":{"tier_wait_ms":99999999999},"files":[]})"));
    EXPECT_FALSE(parse_manifest(manifest_with(R"({"path":"/a.mp4","size":1e300,"sha256":")" + kSha +
                                              R"(","sources":[]})")));
}

} // namespace
} // namespace vcdn::fill
