#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <vcdn/auth/session_token.h>

namespace vcdn::auth {
namespace {

KeySet keys() {
    return *KeySet::parse("s1 " + std::string(64, 'a') + "\ns2 " + std::string(64, 'b') + "\n");
}

TEST(SessionToken, RoundTripsAndEveryFieldIsCovered) {
    const KeySet ks = keys();
    const io::IpAddress me = *io::IpAddress::parse("10.1.2.3");
    const io::IpAddress other = *io::IpAddress::parse("10.1.2.4");
    VerifyPolicy p{86400, 60};
    const std::string t = make_session_token(*ks.find("s1"), 1000, "");
    EXPECT_EQ(t.rfind("s1~1000~~", 0), 0u) << t;
    EXPECT_EQ(verify_session_token(t, ks, 900, me, p), SigCheck::kOk);
    EXPECT_EQ(verify_session_token(t, ks, 1000 + 61, me, p), SigCheck::kExpired);
    EXPECT_EQ(verify_session_token(t, ks, 1000 + 59, me, p), SigCheck::kOk); // skew
    // Another key id, expiry or client with the same signature: forged.
    EXPECT_EQ(verify_session_token("s2" + t.substr(2), ks, 900, me, p), SigCheck::kForged);
    EXPECT_EQ(verify_session_token("s1~1001~~" + t.substr(9), ks, 900, me, p), SigCheck::kForged);
    EXPECT_EQ(verify_session_token("s1~1000~10.1.2.3~" + t.substr(9), ks, 900, me, p),
              SigCheck::kForged);
    // Bound to a client: valid from it alone.
    const std::string b = make_session_token(*ks.find("s2"), 1000, "10.1.2.3");
    EXPECT_EQ(verify_session_token(b, ks, 900, me, p), SigCheck::kOk);
    EXPECT_EQ(verify_session_token(b, ks, 900, other, p), SigCheck::kWrongPrefix);
    // A URL signature is not a session token (different domain).
    EXPECT_NE(signature(*ks.find("s1"), "/t/1/v.mp4", 1000, ""), t.substr(9));
    // Lifetime.
    EXPECT_EQ(
        verify_session_token(make_session_token(*ks.find("s1"), 900 + 86400 + 61), ks, 900, me, p),
        SigCheck::kTooLong);
}

TEST(SessionToken, MalformedOnesAreRefusedCheaply) {
    const KeySet ks = keys();
    const io::IpAddress me = *io::IpAddress::parse("10.1.2.3");
    VerifyPolicy p{86400, 60};
    EXPECT_EQ(verify_session_token("", ks, 0, me, p), SigCheck::kMissing);
    const std::vector<std::string> bad = {"x",
                                          "s1~1~",
                                          "s1~-1~~AAAA",
                                          "s1~1x~~AAAA",
                                          "~1~~AAAA",
                                          "s1~1~~AA~AA",
                                          "s!~1~~AAAA",
                                          std::string(300, '~'),
                                          "s1~99999999999999999999~~AAAA"};
    for (const std::string& b : bad)
        EXPECT_EQ(verify_session_token(b, ks, 0, me, p), SigCheck::kMalformed) << b;
    EXPECT_EQ(verify_session_token("s1~1~~", ks, 0, me, p), SigCheck::kForged); // empty sig
    // One spelling per token (found by fuzz_tokens): a leading zero is not the same token.
    const std::string t = make_session_token(*ks.find("s1"), 1000);
    EXPECT_EQ(verify_session_token("s1~01000~" + t.substr(8), ks, 900, me, p),
              SigCheck::kMalformed);
    EXPECT_EQ(verify_session_token("s9~1~~AAAA", ks, 0, me, p), SigCheck::kUnknownKey);
    // A bound client that is not an address: never valid.
    EXPECT_EQ(verify_session_token(make_session_token(*ks.find("s1"), 10, "nope"), ks, 0, me, p),
              SigCheck::kWrongPrefix);
}

} // namespace
} // namespace vcdn::auth
