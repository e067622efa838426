#include <gtest/gtest.h>

#include <vcdn/http/date.h>

namespace vcdn::http {
namespace {

TEST(HttpDate, FormatsImfFixdate) {
    EXPECT_EQ(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(http_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
    EXPECT_EQ(http_date(4102444799), "Thu, 31 Dec 2099 23:59:59 GMT");
}

TEST(HttpDate, ParsesAllThreeForms) {
    EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), 784111777);
    EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
}

TEST(HttpDate, RoundTrips) {
    for (int64_t t = 0; t < 4102444800; t += 86400 * 37 + 3601)
        ASSERT_EQ(parse_http_date(http_date(t)), t) << t;
}

TEST(HttpDate, RejectsGarbage) {
    for (const char* s :
         {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Foo 1994 08:49:37 GMT",
          "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
          "Sun, 06 Nov 1994 08:49:37 GMT ", "Sun Nov 06 08:49:37 94"})
        EXPECT_FALSE(parse_http_date(s).has_value()) << s;
}

} // namespace
} // namespace vcdn::http
