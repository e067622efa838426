// parse_json's limits and Fields (wire/json.h): costs decided before parsing, errors by path.
#include <gtest/gtest.h>

#include <vcdn/wire/json.h>

namespace vcdn::wire {
namespace {

using nlohmann::json;

TEST(Json, DepthIsCountedOutsideStringsOnly) {
    EXPECT_EQ(json_depth("1", 10), 0u);
    EXPECT_EQ(json_depth("[[{}]]", 10), 3u);
    EXPECT_EQ(json_depth(R"(["[[[[", "\"[[["])", 10), 1u);
    EXPECT_EQ(json_depth(std::string(1000, '['), 8), 9u) << "stops as soon as it is too deep";
}

// Found by fuzzing the admin bodies: get<uint64_t>() of 1e300 is undefined behaviour, and
// get<uint32_t>() of 4294967297 is 1.
TEST(Json, ExactConversionsRefuseWhatWouldTruncateOrOverflow) {
    uint32_t u32 = 7;
    EXPECT_TRUE(json_exact(json::parse("4294967295"), &u32));
    EXPECT_EQ(u32, 4294967295u);
    EXPECT_FALSE(json_exact(json::parse("4294967296"), &u32));
    EXPECT_FALSE(json_exact(json::parse("-1"), &u32));
    EXPECT_FALSE(json_exact(json::parse("1.0"), &u32));
    uint64_t u64 = 0;
    EXPECT_FALSE(json_exact(json::parse("1e300"), &u64));
    EXPECT_FALSE(json_exact(json::parse("\"5\""), &u64));
    EXPECT_TRUE(json_exact(json::parse("18446744073709551615"), &u64));
    int64_t i64 = 0;
    EXPECT_TRUE(json_exact(json::parse("-9223372036854775808"), &i64));
    EXPECT_FALSE(json_exact(json::parse("9223372036854775808"), &i64));
    double d = 0;
    EXPECT_TRUE(json_exact(json::parse("2"), &d));
    EXPECT_EQ(d, 2.0);
    // (nlohmann's parser refuses 1e999, but a json made in code can hold infinity.)
    EXPECT_FALSE(json_exact(json(std::numeric_limits<double>::infinity()), &d));
    std::vector<uint32_t> v;
    EXPECT_TRUE(json_exact(json::parse("[1, 2]"), &v));
    EXPECT_EQ(v, (std::vector<uint32_t>{1, 2}));
    EXPECT_FALSE(json_exact(json::parse("[1, 4294967297]"), &v));
    EXPECT_EQ(v, (std::vector<uint32_t>{1, 2})) << "a refused value changes nothing";
    std::string s;
    EXPECT_FALSE(json_exact(json::parse("5"), &s));
    EXPECT_TRUE(json_exact(json::parse("\"x\""), &s));
    bool b = false;
    EXPECT_FALSE(json_exact(json::parse("1"), &b));
}

TEST(Json, LimitsAreEnforcedBeforeTheParser) {
    EXPECT_EQ(parse_json(std::string(11, ' '), {10, 4}).error().message,
              "the body is over 10 bytes");
    EXPECT_EQ(parse_json("[[[[[1]]]]]", {100, 4}).error().message,
              "the JSON is nested deeper than 4 levels");
    EXPECT_EQ(parse_json("", {100, 4}).error().message, "the body is empty (JSON expected)");
    EXPECT_EQ(parse_json("{", {100, 4}).error().message, "the body is not valid JSON");
    EXPECT_TRUE(parse_json("[[[[1]]]]", {100, 4}));
}

TEST(Fields, ReadsTypedFieldsAndNamesTheFirstError) {
    json j = json::parse(R"({"n": 5, "s": "x", "b": true, "d": 1.5, "l": ["a"],
                             "o": {"x": 1}, "os": [{"y": 2}]})");
    int64_t n = 0;
    std::string s;
    bool b = false;
    double d = 0;
    std::vector<std::string> l;
    uint32_t x = 0, y = 0;
    Fields f(j, "doc");
    f.req("n", &n, 0, 10)
        .req("s", &s, 4)
        .req("b", &b)
        .req("d", &d, 0, 2)
        .req("l", &l, 2)
        .req_object("o", [&](Fields& o) { o.req("x", &x).done(); })
        .req_objects("os", 4, [&](Fields& o, size_t) { o.req("y", &y).done(); })
        .done();
    ASSERT_TRUE(f.ok()) << f.error();
    EXPECT_EQ(n, 5);
    EXPECT_EQ(s, "x");
    EXPECT_TRUE(b);
    EXPECT_EQ(d, 1.5);
    EXPECT_EQ(l, std::vector<std::string>{"a"});
    EXPECT_EQ(x, 1u);
    EXPECT_EQ(y, 2u);

    Fields g(j, "doc");
    g.req("n", &n, 0, 4).req("missing", &s);
    EXPECT_EQ(g.error(), "doc.n: out of range (0 to 4)") << "the first error sticks";
    Fields h(j, "doc");
    h.req("os", &l, 4);
    EXPECT_EQ(h.error(), "doc.os: [0]: expected a string");
    Fields u(j, "doc");
    u.req("n", &n);
    u.done();
    EXPECT_NE(u.error().find("unknown field"), std::string::npos);
    Fields allow(j, "doc");
    allow.req("n", &n).done(true);
    EXPECT_TRUE(allow.ok());
    const json huge = json::parse(R"({"n": 1e300})");
    Fields big(huge, "");
    big.req("n", &n);
    EXPECT_EQ(big.error(), "n: expected an integer") << "no float-to-int undefined behaviour";
    const json negative = json::parse(R"({"n": -1})");
    Fields neg(negative, "");
    uint64_t un = 0;
    neg.req("n", &un);
    EXPECT_NE(neg.error().find("out of range"), std::string::npos);
    const json array = json::parse("[1]");
    Fields notobj(array, "x");
    EXPECT_EQ(notobj.error(), "x: expected a JSON object");
}

} // namespace
} // namespace vcdn::wire
