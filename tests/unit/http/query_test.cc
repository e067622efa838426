#include <gtest/gtest.h>

#include <vcdn/http/query.h>

namespace vcdn::http {
namespace {

TEST(Query, FindsRawValues) {
    std::string_view v;
    ASSERT_TRUE(query_param("file=/t/1/a.mp4&client=10.1.2.3", "client", &v));
    EXPECT_EQ(v, "10.1.2.3");
    ASSERT_TRUE(query_param("file=/t/1/a.mp4&client=10.1.2.3", "file", &v));
    EXPECT_EQ(v, "/t/1/a.mp4");
    const std::string_view q = "a&b=2";
    ASSERT_TRUE(query_param(q, "a", &v));
    EXPECT_EQ(v, "");
    EXPECT_EQ(v.data(), q.data() + 1) << "an empty value is still a slice of the query";
    EXPECT_FALSE(query_param("files=1&xfile=2", "file", &v));
    EXPECT_FALSE(query_param("", "file", &v));
    ASSERT_TRUE(query_param("a=1&a=2", "a", &v));
    EXPECT_EQ(v, "1"); // the first wins
}

TEST(Query, DecodesPercentAndPlus) {
    std::string out;
    ASSERT_TRUE(url_decode("%2Ft%2f1%2Fa+b.mp4", &out));
    EXPECT_EQ(out, "/t/1/a b.mp4");
    ASSERT_TRUE(url_decode("2001%3Adb8%3A%3A1", &out));
    EXPECT_EQ(out, "2001:db8::1");
    EXPECT_FALSE(url_decode("%4", &out));
    EXPECT_FALSE(url_decode("%", &out));
    EXPECT_FALSE(url_decode("%zz", &out));
    ASSERT_TRUE(url_decode("%41", &out));
    EXPECT_EQ(out, "A");
}

} // namespace
} // namespace vcdn::http
