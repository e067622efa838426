#include <gtest/gtest.h>

#include <vcdn/http/target.h>

namespace vcdn::http {
namespace {

struct Out {
    TargetError err;
    Target t;
    std::string path;
};

Out run(std::string_view target, size_t cap = 4096) {
    static char buf[8192];
    Out o;
    o.err = parse_target(target, buf, cap, &o.t);
    o.path = std::string(o.t.path);
    return o;
}

TEST(Target, OriginForm) {
    auto o = run("/t/1/v-3000k.mp4?e=1&k=2");
    ASSERT_EQ(o.err, TargetError::kNone);
    EXPECT_EQ(o.path, "t/1/v-3000k.mp4");
    EXPECT_EQ(o.t.query, "e=1&k=2");
    EXPECT_TRUE(o.t.authority.empty());
}

TEST(Target, NormalisesSlashesAndDots) {
    EXPECT_EQ(run("//t///1/./v.mp4").path, "t/1/v.mp4");
    EXPECT_EQ(run("/t/1/").path, "t/1");
    EXPECT_EQ(run("/").path, "");
    EXPECT_EQ(run("/./.").path, "");
    EXPECT_EQ(run("/a%20b").path, "a b");
    EXPECT_EQ(run("/a%2Fb").path, "a/b");
    EXPECT_EQ(run("/%7euser").path, "~user");
    EXPECT_EQ(run("/caf%C3%A9").path, "caf\xC3\xA9");
}

TEST(Target, AbsoluteForm) {
    auto o = run("http://edge.example:8080/t/1/v.mp4?x");
    ASSERT_EQ(o.err, TargetError::kNone);
    EXPECT_EQ(o.t.authority, "edge.example:8080");
    EXPECT_EQ(o.path, "t/1/v.mp4");
    EXPECT_EQ(o.t.query, "x");
    EXPECT_EQ(run("HTTPS://e").err, TargetError::kNone);
    EXPECT_EQ(run("HTTPS://e").path, "");
    EXPECT_EQ(run("ftp://e/x").err, TargetError::kBadForm);
    EXPECT_EQ(run("http://u@e/x").err, TargetError::kBadForm);
    EXPECT_EQ(run("http:///x").err, TargetError::kBadForm);
    EXPECT_EQ(run("http://e?x").err, TargetError::kBadForm);
}

TEST(Target, RefusesTraversalInEverySpelling) {
    for (const char* t : {"/..", "/../x", "/a/../b", "/a/..", "/%2e%2e/x", "/%2E%2e", "/.%2e/x",
                          "/a/..%2fb", "/a%2f..%2fb", "/a/%2e%2e%2f", "http://h/../x"})
        EXPECT_EQ(run(t).err, TargetError::kDotSegment) << t;
}

TEST(Target, OtherRefusals) {
    EXPECT_EQ(run("/a%00b").err, TargetError::kNulByte);
    EXPECT_EQ(run("/a%").err, TargetError::kBadEncoding);
    EXPECT_EQ(run("/a%4").err, TargetError::kBadEncoding);
    EXPECT_EQ(run("/a%g0").err, TargetError::kBadEncoding);
    EXPECT_EQ(run("/.hidden").err, TargetError::kHidden);
    EXPECT_EQ(run("/t/%2etmp").err, TargetError::kHidden);
    EXPECT_EQ(run("/a#b").err, TargetError::kBadForm);
    EXPECT_EQ(run("*").err, TargetError::kBadForm);
    EXPECT_EQ(run("").err, TargetError::kBadForm);
    EXPECT_EQ(run("a/b").err, TargetError::kBadForm);
    EXPECT_EQ(run("/abcdef", 4).err, TargetError::kTooLong);
    EXPECT_EQ(target_error_status(TargetError::kHidden), 404);
    EXPECT_EQ(target_error_status(TargetError::kTooLong), 414);
    EXPECT_EQ(target_error_status(TargetError::kDotSegment), 400);
}

} // namespace
} // namespace vcdn::http
