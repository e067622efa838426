#include <gtest/gtest.h>

#include <vcdn/auth/signed_url.h>

namespace vcdn::auth {
namespace {

const std::string kKeys = "# rotation: old first, newest last\n"
                          "k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
                          "\n"
                          "k2 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100aa\n";

io::IpAddress ip(const char* s) {
    return *io::IpAddress::parse(s);
}

std::string query_of(const std::string& url) {
    return url.substr(url.find('?') + 1);
}

TEST(KeySet, ParsesAndRefuses) {
    auto ks = KeySet::parse(kKeys);
    ASSERT_TRUE(ks.ok()) << ks.error().message;
    EXPECT_EQ(ks->size(), 2u);
    EXPECT_EQ(ks->newest()->id, "k2");
    EXPECT_EQ(ks->find("k1")->secret.size(), 32u);
    EXPECT_EQ(ks->find("nope"), nullptr);
    struct Case {
        const char* text;
        const char* want;
    } bad[] = {
        {"", "no keys"},
        {"k1\n", "expected '<key-id> <secret in hex>'"},
        {"k1 00112233\n", "at least 32"},
        {"k1 zz\n", "not hex"},
        {"bad/id 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", "key id"},
        {"a 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
         "a 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
         "listed twice"},
    };
    for (const Case& c : bad) {
        auto r = KeySet::parse(c.text, "keys.txt");
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_NE(r.error().message.find(c.want), std::string::npos) << r.error().message;
    }
}

TEST(SignedUrl, SignsAndVerifies) {
    auto ks = *KeySet::parse(kKeys);
    const SigningKey& k2 = *ks.newest();
    std::string url = sign_url("/t/1/v-3000k.mp4", 2000, k2);
    EXPECT_EQ(url.substr(0, url.find('?')), "/t/1/v-3000k.mp4");
    EXPECT_NE(url.find("e=2000&k=k2&s="), std::string::npos);
    EXPECT_EQ(signature(k2, "/t/1/v-3000k.mp4", 2000, "").size(), 22u);
    EXPECT_EQ(verify("/t/1/v-3000k.mp4", query_of(url), ks, 1000, ip("10.0.0.1")), SigCheck::kOk);
    // Known answer: the same key, path and expiry always give the same signature.
    EXPECT_EQ(signature(*ks.find("k1"), "/a", 1, ""), signature(*ks.find("k1"), "/a", 1, ""));
    EXPECT_NE(signature(*ks.find("k1"), "/a", 1, ""), signature(*ks.find("k1"), "/a", 2, ""));
}

TEST(SignedUrl, EveryRefusalHasItsReason) {
    auto ks = *KeySet::parse(kKeys);
    const SigningKey& k1 = *ks.find("k1");
    const std::string path = "/t/1/v.mp4";
    const std::string good = query_of(sign_url(path, 2000, k1));
    auto check = [&](std::string_view q, const char* client = "10.0.0.1", std::string_view p = {}) {
        return verify(p.empty() ? std::string_view(path) : p, q, ks, 1000, ip(client));
    };
    EXPECT_EQ(check(good), SigCheck::kOk);
    EXPECT_EQ(check(""), SigCheck::kMissing);
    EXPECT_EQ(check("e=2000&k=k1"), SigCheck::kMissing);
    EXPECT_EQ(check("x=1"), SigCheck::kMissing);
    EXPECT_EQ(check(good + "&e=3000"), SigCheck::kMalformed);
    EXPECT_EQ(check("e=soon&k=k1&s=AAAAAAAAAAAAAAAAAAAAAA"), SigCheck::kMalformed);
    EXPECT_EQ(check("e=2000&k=k1&s=short"), SigCheck::kMalformed);
    EXPECT_EQ(check(good + "&p=10.1.2.3/16"), SigCheck::kMalformed); // host bits set
    // Another spelling of the same expiry is not the same URL: leading zeros, percent-encoding.
    ASSERT_EQ(good.substr(0, 7), "e=2000&");
    EXPECT_EQ(check("e=02000" + good.substr(6)), SigCheck::kMalformed);
    EXPECT_EQ(check("e=%32000" + good.substr(6)), SigCheck::kMalformed);
    EXPECT_EQ(check("e=+2000" + good.substr(6)), SigCheck::kMalformed);
    EXPECT_EQ(check("e=2000&k=k9&s=AAAAAAAAAAAAAAAAAAAAAA"), SigCheck::kUnknownKey);
    std::string forged = good;
    forged[forged.size() - 1] = forged.back() == 'A' ? 'B' : 'A';
    EXPECT_EQ(check(forged), SigCheck::kForged);
    EXPECT_EQ(check(good, "10.0.0.1", "/t/2/v.mp4"), SigCheck::kForged); // another file
    std::string later = good;
    later.replace(later.find("e=2000"), 6, "e=9999");
    EXPECT_EQ(check(later), SigCheck::kForged); // extended expiry
    EXPECT_EQ(verify(path, good, ks, 2001, ip("10.0.0.1")), SigCheck::kExpired);
    EXPECT_EQ(verify(path, good, ks, 2000, ip("10.0.0.1")), SigCheck::kOk); // valid through e
    // Bound to a client network.
    const std::string bound = query_of(sign_url(path, 2000, k1, "10.1.0.0/16"));
    EXPECT_EQ(check(bound, "10.1.200.7"), SigCheck::kOk);
    EXPECT_EQ(check(bound, "10.2.0.1"), SigCheck::kWrongPrefix);
    EXPECT_EQ(check(bound, "2001:db8::1"), SigCheck::kWrongPrefix);
    std::string moved = bound;
    moved.replace(moved.find("p=10.1.0.0/16"), 13, "p=10.2.0.0/16");
    EXPECT_EQ(check(moved, "10.2.0.1"), SigCheck::kForged); // the prefix is signed
    std::string dropped = bound.substr(0, bound.find("&p="));
    EXPECT_EQ(check(dropped, "10.2.0.1"), SigCheck::kForged);
    // Percent-encoded values and IPv6 prefixes.
    const std::string v6 = query_of(sign_url(path, 2000, k1, "2001:db8:1::/48"));
    EXPECT_EQ(check(v6, "2001:db8:1::77"), SigCheck::kOk);
    std::string encoded = v6;
    encoded.replace(encoded.find("2001:db8:1::/48"), 15, "2001%3Adb8%3A1%3A%3A%2F48");
    EXPECT_EQ(check(encoded, "2001:db8:1::77"), SigCheck::kOk);
}

TEST(SignedUrl, RotationAcceptsEveryListedKey) {
    auto ks = *KeySet::parse(kKeys);
    for (const char* id : {"k1", "k2"})
        EXPECT_EQ(verify("/x", query_of(sign_url("/x", 5, *ks.find(id))), ks, 1, ip("127.0.0.1")),
                  SigCheck::kOk);
    auto only_new =
        *KeySet::parse("k2 ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100aa\n");
    EXPECT_EQ(
        verify("/x", query_of(sign_url("/x", 5, *ks.find("k1"))), only_new, 1, ip("127.0.0.1")),
        SigCheck::kUnknownKey);
}

// Splits "/vt=<token>/rest" as the edge does (its decoded relative path).
struct Titled {
    std::string token, rest;
};
Titled split(const std::string& url) {
    std::string_view token, rest;
    EXPECT_TRUE(split_title_token(std::string_view(url).substr(1), &token, &rest)) << url;
    return Titled{std::string(token), std::string(rest)};
}

TEST(TitleToken, CoversEveryFileOfItsTitleAndNothingElse) {
    auto ks = KeySet::parse(kKeys);
    ASSERT_TRUE(ks.ok());
    const SigningKey& k = *ks->newest();
    const io::IpAddress client = ip("10.1.2.3");
    const std::string url = sign_title_url("/t/1/manifest.mpd", 2, 2000, k);
    ASSERT_EQ(url.substr(0, 8), "/vt=k2~2");
    const Titled t = split(url);
    EXPECT_EQ(t.rest, "t/1/manifest.mpd");
    EXPECT_EQ(title_scope("/t/1/manifest.mpd", 2), "t/1/");
    // Every file below the scope, the nested ones too (what relative URLs resolve to).
    for (const char* path : {"t/1/manifest.mpd", "t/1/v-3000k.mp4", "t/1/720p/seg-1.m4s"})
        EXPECT_EQ(verify_title(t.token, path, *ks, 1000, client), SigCheck::kOk) << path;
    // Another title, a title whose number starts the same, the scope itself, a shorter path.
    for (const char* path :
         {"t/2/manifest.mpd", "t/10/manifest.mpd", "t/1/", "t/1", "t//1/x", "u/1/manifest.mpd", ""})
        EXPECT_EQ(verify_title(t.token, path, *ks, 1000, client), SigCheck::kForged) << path;
    EXPECT_EQ(verify_title(t.token, "t/1/x", *ks, 2001, client), SigCheck::kExpired);
    EXPECT_EQ(verify_title(t.token, "t/1/x", *ks, 1000, client, VerifyPolicy{500, 0}),
              SigCheck::kTooLong);
    EXPECT_EQ(verify_title(t.token, "t/1/x", *ks, 2030, client, VerifyPolicy{0, 60}),
              SigCheck::kOk);
    // A URL signature for the same path is not a title token, and the other way round.
    const std::string plain = sign_url("/t/1/manifest.mpd", 2000, k);
    EXPECT_EQ(
        verify_title("vt=k2~2000~2~~" + query_of(plain).substr(query_of(plain).find("s=") + 2),
                     "t/1/manifest.mpd", *ks, 1000, client),
        SigCheck::kForged);
    // Another key (an edge's token on another edge: derived keys differ).
    auto other = KeySet::from_keys({derive_key(k, "edge-b")});
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(verify_title(t.token, "t/1/x", *other, 1000, client), SigCheck::kForged);
    auto none =
        KeySet::parse("k9 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    EXPECT_EQ(verify_title(t.token, "t/1/x", *none, 1000, client), SigCheck::kUnknownKey);
}

TEST(TitleToken, BoundToAClientNetwork) {
    auto ks = KeySet::parse(kKeys);
    ASSERT_TRUE(ks.ok());
    const Titled t = split(sign_title_url("/t/1/a.mpd", 2, 2000, *ks->newest(), "10.1.0.0/16"));
    EXPECT_NE(t.token.find("~10.1.0.0_16~"), std::string::npos) << t.token;
    EXPECT_EQ(verify_title(t.token, "t/1/b.mp4", *ks, 1000, ip("10.1.200.7")), SigCheck::kOk);
    EXPECT_EQ(verify_title(t.token, "t/1/b.mp4", *ks, 1000, ip("10.2.0.1")),
              SigCheck::kWrongPrefix);
    // The binding is signed: dropping or widening it breaks the token.
    std::string widened = t.token;
    widened.replace(widened.find("10.1.0.0_16"), 11, "10.0.0.0_8");
    EXPECT_EQ(verify_title(widened, "t/1/b.mp4", *ks, 1000, ip("10.2.0.1")), SigCheck::kForged);
    const Titled v6 = split(sign_title_url("/t/1/a.mpd", 2, 2000, *ks->newest(), "2001:db8::/48"));
    EXPECT_EQ(verify_title(v6.token, "t/1/a.mpd", *ks, 1000, ip("2001:db8::9")), SigCheck::kOk);
}

TEST(TitleToken, MalformedTokensAndScopes) {
    auto ks = KeySet::parse(kKeys);
    ASSERT_TRUE(ks.ok());
    const io::IpAddress client = ip("10.1.2.3");
    const Titled t = split(sign_title_url("/t/1/a.mpd", 2, 2000, *ks->newest()));
    const std::string sig = t.token.substr(t.token.rfind('~') + 1);
    for (const std::string& bad :
         {std::string("vt="), std::string("vt=k2~2000~2~") + sig, "vt=k2~02000~2~~" + sig,
          "vt=k2~2000~02~~" + sig, "vt=k2~2000~0~~" + sig, "vt=k2~2000~17~~" + sig,
          "vt=k2~2000~100~~" + sig, "vt=k2~-1~2~~" + sig, "vt=k2~2000~2~~" + sig + "x",
          "vt=k2~2000~2~~~" + sig, "vt=k/2~2000~2~~" + sig, "vt=k2~2000~2~10.1.0.0_33~" + sig,
          "vt=k2~2000~2~bogus_8~" + sig, "vt=k2~99999999999999999999~2~~" + sig})
        EXPECT_EQ(verify_title(bad, "t/1/a.mpd", *ks, 1000, client), SigCheck::kMalformed) << bad;
    EXPECT_EQ(verify_title("nope", "t/1/a.mpd", *ks, 1000, client), SigCheck::kMissing);
    // Scopes leave a file name; too many or no segments sign nothing.
    EXPECT_EQ(title_scope("/t/1/a.mpd", 3), "");
    EXPECT_EQ(title_scope("/t/1/a.mpd", 0), "");
    EXPECT_EQ(title_scope("t/1/a.mpd", 1), "t/");
    EXPECT_EQ(sign_title_url("/a.mpd", 1, 2000, *ks->newest()), "");
    std::string_view token, rest;
    EXPECT_FALSE(split_title_token("t/1/a.mpd", &token, &rest));
    EXPECT_FALSE(split_title_token("xvt=1/a", &token, &rest));
    EXPECT_TRUE(split_title_token("vt=abc", &token, &rest));
    EXPECT_EQ(token, "vt=abc");
    EXPECT_EQ(rest, "");
    for (SigCheck c : {SigCheck::kMalformed, SigCheck::kForged, SigCheck::kExpired,
                       SigCheck::kWrongPrefix, SigCheck::kTooLong})
        EXPECT_NE(std::string(title_check_reason(c)).find("title token"), std::string::npos);
}

TEST(Base64url, Rfc4648Vectors) {
    auto enc = [](std::string_view s) {
        return base64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    };
    EXPECT_EQ(enc(""), "");
    EXPECT_EQ(enc("f"), "Zg");
    EXPECT_EQ(enc("fo"), "Zm8");
    EXPECT_EQ(enc("foo"), "Zm9v");
    EXPECT_EQ(enc("foob"), "Zm9vYg");
    EXPECT_EQ(enc("\xfb\xff"), "-_8");
}

TEST(IpAddress, UnmappedIsTheIpv4AMappedAddressNames) {
    EXPECT_EQ(io::IpAddress::parse("::ffff:10.1.2.3")->unmapped().to_string(), "10.1.2.3");
    EXPECT_EQ(io::IpAddress::parse("::ffff:10.1.2.3")->unmapped(),
              *io::IpAddress::parse("10.1.2.3"));
    EXPECT_EQ(io::IpAddress::parse("2001:db8::1")->unmapped().to_string(), "2001:db8::1");
    EXPECT_EQ(io::IpAddress::parse("10.1.2.3")->unmapped().to_string(), "10.1.2.3");
}

TEST(IpPrefix, ParseAndContain) {
    auto p = *io::IpPrefix::parse("10.1.0.0/16");
    EXPECT_TRUE(p.contains(ip("10.1.255.255")));
    EXPECT_FALSE(p.contains(ip("10.2.0.0")));
    EXPECT_TRUE(io::IpPrefix::parse("0.0.0.0/0")->contains(ip("8.8.8.8")));
    EXPECT_TRUE(io::IpPrefix::parse("2001:db8::/32")->contains(ip("2001:db8:ffff::1")));
    EXPECT_FALSE(io::IpPrefix::parse("2001:db8::/32")->contains(ip("10.0.0.1")));
    EXPECT_EQ(io::IpPrefix::parse("10.0.0.7")->bits, 32);
    EXPECT_TRUE(io::IpPrefix::parse("10.0.0.128/25")->contains(ip("10.0.0.200")));
    EXPECT_FALSE(io::IpPrefix::parse("10.0.0.128/25")->contains(ip("10.0.0.100")));
    EXPECT_NE(io::IpPrefix::parse("10.1.2.3/16").error().message.find("10.1.0.0/16"),
              std::string::npos);
    for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "x/8", "::/129", "10.0.0.0/-1"})
        EXPECT_FALSE(io::IpPrefix::parse(bad).ok()) << bad;
    EXPECT_EQ(io::IpPrefix::parse("2001:db8::/32")->to_string(), "2001:db8::/32");
}

} // namespace
} // namespace vcdn::auth
