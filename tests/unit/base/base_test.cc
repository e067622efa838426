#include <gtest/gtest.h>

#include <thread>

#include <vcdn/base/log.h>
#include <vcdn/base/random.h>
#include <vcdn/base/sha256.h>
#include <vcdn/base/spsc_ring.h>
#include <vcdn/base/strings.h>
#include <vcdn/io/address.h>

namespace vcdn {
namespace {

TEST(Strings, ParseU64) {
    uint64_t v = 0;
    EXPECT_TRUE(parse_u64("0", &v));
    EXPECT_EQ(v, 0u);
    EXPECT_TRUE(parse_u64("18446744073709551615", &v));
    EXPECT_EQ(v, UINT64_MAX);
    EXPECT_FALSE(parse_u64("18446744073709551616", &v));
    EXPECT_FALSE(parse_u64("", &v));
    EXPECT_FALSE(parse_u64("-1", &v));
    EXPECT_FALSE(parse_u64(" 1", &v));
    EXPECT_FALSE(parse_u64("1a", &v));
}

TEST(Strings, Misc) {
    EXPECT_TRUE(iequals("Content-Length", "content-length"));
    EXPECT_FALSE(iequals("a", "ab"));
    EXPECT_EQ(trim_ows(" \t x y \t"), "x y");
    EXPECT_EQ(split("a,,b", ',').size(), 3u);
    EXPECT_EQ(human_bytes(1536), "1.5 KiB");
}

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(Sha256::hex_of(""),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(Sha256::hex_of("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Rng, DeterministicAndBounded) {
    Rng a(1), b(1), c(2);
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(a.next(), b.next());
    EXPECT_NE(a.next(), c.next());
    for (int i = 0; i < 1000; ++i)
        EXPECT_LT(a.below(7), 7u);
}

TEST(SpscRing, PushPeekConsumeAcrossTheWrap) {
    SpscRing r(16);
    const char *a, *b;
    size_t al, bl;
    EXPECT_TRUE(r.push("0123456789", 10));
    EXPECT_FALSE(r.push("0123456789", 10)); // no room
    EXPECT_EQ(r.peek(&a, &al, &b, &bl), 10u);
    r.consume(10);
    EXPECT_TRUE(r.push("abcdefghij", 10)); // wraps
    EXPECT_EQ(r.peek(&a, &al, &b, &bl), 10u);
    EXPECT_EQ(std::string(a, al) + std::string(b, bl), "abcdefghij");
    EXPECT_EQ(bl, 4u);
}

TEST(SpscRing, TwoThreadsLoseNothing) {
    SpscRing r(1 << 12);
    const int kN = 200000;
    std::thread producer([&] {
        for (int i = 0; i < kN; ++i) {
            uint32_t v = static_cast<uint32_t>(i);
            while (!r.push(reinterpret_cast<const char*>(&v), 4))
                std::this_thread::yield();
        }
    });
    std::string got;
    while (got.size() < kN * 4u) {
        const char *a, *b;
        size_t al, bl;
        size_t n = r.peek(&a, &al, &b, &bl);
        got.append(a, al);
        got.append(b, bl);
        r.consume(n);
    }
    producer.join();
    for (int i = 0; i < kN; ++i) {
        uint32_t v;
        memcpy(&v, got.data() + i * 4, 4);
        ASSERT_EQ(v, static_cast<uint32_t>(i));
    }
}

TEST(RateLimit, LetsOneThroughPerInterval) {
    log::RateLimit rl(1000);
    uint64_t held = 99;
    EXPECT_TRUE(rl.allow(0, &held));
    EXPECT_EQ(held, 0u);
    EXPECT_FALSE(rl.allow(10, &held));
    EXPECT_FALSE(rl.allow(20, &held));
    EXPECT_TRUE(rl.allow(1000, &held));
    EXPECT_EQ(held, 2u);
}

TEST(Address, ParsesAndFormats) {
    auto a = io::parse_socket_address("127.0.0.1:8080");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->port(), 8080);
    EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
    auto b = io::parse_socket_address("[::1]:0");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->family(), AF_INET6);
    EXPECT_EQ(b->to_string(), "[::1]:0");
    EXPECT_EQ(io::parse_socket_address(":80")->to_string(), "0.0.0.0:80");
    EXPECT_EQ(io::parse_socket_address("*:80")->to_string(), "0.0.0.0:80");
    for (const char* bad :
         {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "::1:80", "[::1]80", "host:80", "1.2.3.4:-1"})
        EXPECT_FALSE(io::parse_socket_address(bad).ok()) << bad;
}

} // namespace
} // namespace vcdn
