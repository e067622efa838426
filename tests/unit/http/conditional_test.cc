#include <gtest/gtest.h>

#include <vcdn/http/conditional.h>
#include <vcdn/http/date.h>

namespace vcdn::http {
namespace {

const std::string kTag = "\"5f-100\"";
const Validators kV{kTag, 1000000};

Request with(std::string_view Request::*field, std::string_view value) {
    Request r;
    r.*field = value;
    return r;
}

TEST(EtagList, WeakAndStrongComparison) {
    EXPECT_TRUE(etag_list_matches(kTag, kTag, false));
    EXPECT_TRUE(etag_list_matches("*", kTag, false));
    EXPECT_TRUE(etag_list_matches("\"a\", " + kTag, kTag, true));
    EXPECT_TRUE(etag_list_matches("W/" + kTag, kTag, true));
    EXPECT_FALSE(etag_list_matches("W/" + kTag, kTag, false));
    EXPECT_FALSE(etag_list_matches("\"5f-10\"", kTag, true));
    EXPECT_FALSE(etag_list_matches("5f-100", kTag, true)); // unquoted is not an entity-tag
    EXPECT_TRUE(etag_list_matches("\"a,b\" , " + kTag, kTag, true));
    EXPECT_FALSE(etag_list_matches("", kTag, true));
}

TEST(Preconditions, FollowRfc9110Order) {
    const std::string lm = http_date(kV.last_modified);
    const std::string earlier = http_date(kV.last_modified - 1);
    EXPECT_EQ(evaluate_preconditions(Request{}, kV), Precondition::kProceed);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_none_match, kTag), kV),
              Precondition::kNotModified);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_none_match, "\"x\""), kV),
              Precondition::kProceed);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_modified_since, lm), kV),
              Precondition::kNotModified);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_modified_since, earlier), kV),
              Precondition::kProceed);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_modified_since, "garbage"), kV),
              Precondition::kProceed);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_match, "\"x\""), kV),
              Precondition::kPreconditionFailed);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_match, kTag), kV), Precondition::kProceed);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_unmodified_since, earlier), kV),
              Precondition::kPreconditionFailed);
    EXPECT_EQ(evaluate_preconditions(with(&Request::if_unmodified_since, lm), kV),
              Precondition::kProceed);

    Request both;
    both.if_none_match = "\"x\"";
    both.if_modified_since = lm; // ignored because If-None-Match is present
    EXPECT_EQ(evaluate_preconditions(both, kV), Precondition::kProceed);
    Request match_and_ius;
    match_and_ius.if_match = kTag;
    match_and_ius.if_unmodified_since = earlier; // ignored because If-Match is present
    EXPECT_EQ(evaluate_preconditions(match_and_ius, kV), Precondition::kProceed);
}

TEST(IfRange, StrongTagOrExactDate) {
    EXPECT_TRUE(if_range_allows("", kV));
    EXPECT_TRUE(if_range_allows(kTag, kV));
    EXPECT_FALSE(if_range_allows("\"other\"", kV));
    EXPECT_FALSE(if_range_allows("W/" + kTag, kV));
    EXPECT_TRUE(if_range_allows(http_date(kV.last_modified), kV));
    EXPECT_FALSE(if_range_allows(http_date(kV.last_modified + 1), kV));
    EXPECT_FALSE(if_range_allows("not a date", kV));
}

TEST(Etag, NginxForm) {
    EXPECT_EQ(make_etag(0x5f, 0x100), "\"5f-100\"");
}

} // namespace
} // namespace vcdn::http
