// The one URL parser (http/url.h).
#include <gtest/gtest.h>

#include <vcdn/http/url.h>

namespace vcdn::http {
namespace {

TEST(Url, ParsesWhatVcdnWrites) {
    auto u = parse_url("http://127.0.0.1:8070/api/v1/steer?file=/a&x=1");
    ASSERT_TRUE(u) << u.error().message;
    EXPECT_EQ(u->scheme, "http");
    EXPECT_EQ(u->host, "127.0.0.1");
    EXPECT_EQ(u->port, 8070);
    EXPECT_EQ(u->path, "/api/v1/steer");
    EXPECT_EQ(u->query, "file=/a&x=1");
    EXPECT_EQ(u->host_port(), "127.0.0.1:8070");
    EXPECT_EQ(u->base(), "http://127.0.0.1:8070");
    auto v6 = parse_url("HTTPS://[2001:db8::1]/t/1.mp4");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->scheme, "https");
    EXPECT_EQ(v6->host, "2001:db8::1");
    EXPECT_EQ(v6->port, 443);
    EXPECT_EQ(v6->host_port(), "[2001:db8::1]:443");
    EXPECT_EQ(parse_url("http://edge-1.example.net")->port, 80);
    EXPECT_EQ(parse_url("http://edge-1.example.net")->path, "");
    EXPECT_EQ(parse_url(v6->to_string()).value(), *v6);
}

TEST(Url, RefusesWhatIsNotAPlainHttpUrl) {
    for (const char* bad :
         {"ftp://h", "h:80", "http://", "http://:80", "http://h:0", "http://h:65536",
          "http://h:", "http://h:8a", "http://u:p@h", "http://h/#frag", "http://h /x",
          "http://[::1", "http://[zz]:1", "http://h\x01", "http://a_b$c"})
        EXPECT_FALSE(parse_url(bad)) << bad;
    EXPECT_EQ(parse_url("ftp://h").error().message, "'ftp://h': the scheme must be http or https");
    EXPECT_FALSE(parse_url("http://" + std::string(254, 'a')));
}

TEST(Url, BaseUrlsHaveNoPath) {
    EXPECT_TRUE(parse_base_url("http://h:1"));
    EXPECT_EQ(parse_base_url("http://h:1/")->path, "") << "a lone slash is dropped";
    EXPECT_FALSE(parse_base_url("http://h:1/x"));
    EXPECT_FALSE(parse_base_url("http://h:1?q"));
}

} // namespace
} // namespace vcdn::http
