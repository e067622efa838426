#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <vcdn/steer/prefix_table.h>

namespace vcdn::steer {
namespace {

using Entry = PrefixTable::Entry;

io::IpPrefix P(const std::string& text) {
    auto p = io::IpPrefix::parse(text);
    EXPECT_TRUE(p.ok()) << text;
    return p.ok() ? *p : io::IpPrefix{};
}

io::IpAddress A(const std::string& text) {
    auto a = io::IpAddress::parse(text);
    EXPECT_TRUE(a.ok()) << text;
    return a.ok() ? *a : io::IpAddress{};
}

template <class... Args> std::string printf_str(const char* format, Args... args) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, args...);
    return buf;
}

std::string str(const Entry* e) {
    return e ? e->prefix.to_string() + "=" + std::to_string(e->value) : "none";
}

unsigned width(const io::IpAddress& a) {
    return a.family == AF_INET ? 32 : 128;
}

bool bit(const io::IpAddress& a, unsigned i) {
    return a.bytes[i / 8] & (0x80 >> (i % 8));
}

void set_bit(io::IpAddress& a, unsigned i, bool v) {
    const auto m = static_cast<uint8_t>(0x80 >> (i % 8));
    a.bytes[i / 8] = static_cast<uint8_t>(v ? a.bytes[i / 8] | m : a.bytes[i / 8] & ~m);
}

io::IpPrefix masked(io::IpAddress a, unsigned bits) {
    for (unsigned i = bits; i < width(a); ++i)
        set_bit(a, i, false);
    return io::IpPrefix{a, static_cast<uint8_t>(bits)};
}

bool same_prefix(const io::IpPrefix& x, const io::IpPrefix& y) {
    return x.bits == y.bits && x.addr == y.addr;
}

// The obviously correct table: a linear scan over the entries in the order given, where a
// later entry of the same prefix replaces an earlier one (>= below).
class Reference {
public:
    explicit Reference(std::vector<Entry> entries) : entries_(std::move(entries)) {}

    const Entry* lookup(const io::IpAddress& a) const {
        const Entry* best = nullptr;
        for (const Entry& e : entries_)
            if (e.prefix.contains(a) && (!best || e.prefix.bits >= best->prefix.bits)) best = &e;
        return best;
    }

    // Most specific first, one (the last given) entry per distinct prefix.
    std::vector<const Entry*> lookup_all(const io::IpAddress& a) const {
        std::vector<const Entry*> by_len(129, nullptr);
        for (const Entry& e : entries_)
            if (e.prefix.contains(a)) by_len[e.prefix.bits] = &e;
        std::vector<const Entry*> out;
        for (int len = 128; len >= 0; --len)
            if (by_len[static_cast<size_t>(len)]) out.push_back(by_len[static_cast<size_t>(len)]);
        return out;
    }

    size_t distinct() const {
        size_t n = 0;
        for (size_t i = 0; i < entries_.size(); ++i) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; ++j)
                seen = same_prefix(entries_[i].prefix, entries_[j].prefix);
            n += !seen;
        }
        return n;
    }

private:
    std::vector<Entry> entries_;
};

// IPv4 is checked a million times per table, so its reference works on host-order integers.
class ReferenceV4 {
public:
    explicit ReferenceV4(const std::vector<Entry>& entries) {
        for (const Entry& e : entries)
            if (e.prefix.addr.family == AF_INET) {
                uint32_t a;
                std::memcpy(&a, e.prefix.addr.bytes, 4);
                const unsigned b = e.prefix.bits;
                rows_.push_back({ntohl(a), b ? ~0u << (32 - b) : 0u, b, e.value});
            }
    }

    // Value and length of the best match, or bits = -1.
    std::pair<int, uint32_t> lookup(uint32_t a) const {
        int best = -1;
        uint32_t value = 0;
        for (const Row& r : rows_)
            if ((a & r.mask) == r.addr && static_cast<int>(r.bits) >= best) {
                best = static_cast<int>(r.bits);
                value = r.value;
            }
        return {best, value};
    }

    // The same scan over only the rows that can match inside one /16, in the same order.
    ReferenceV4 within(uint32_t hi16) const {
        ReferenceV4 r;
        for (const Row& row : rows_)
            if (((row.addr ^ hi16 << 16) & row.mask & 0xffff0000u) == 0) r.rows_.push_back(row);
        return r;
    }

private:
    ReferenceV4() = default;

    struct Row {
        uint32_t addr, mask;
        unsigned bits;
        uint32_t value;
    };
    std::vector<Row> rows_;
};

io::IpAddress v4(uint32_t host_order) {
    io::IpAddress a;
    a.family = AF_INET;
    const uint32_t n = htonl(host_order);
    std::memcpy(a.bytes, &n, 4);
    return a;
}

io::IpAddress random_address(std::mt19937_64& rng, uint8_t family) {
    io::IpAddress a;
    a.family = family;
    for (auto& b : a.bytes)
        b = static_cast<uint8_t>(rng());
    if (family == AF_INET) std::memset(a.bytes + 4, 0, 12);
    return a;
}

// Random prefixes that nest and collide a lot: all derive from a few base addresses, with
// random lengths over the whole range and some exact duplicates carrying new values.
std::vector<Entry> random_entries(std::mt19937_64& rng, uint8_t family, size_t n,
                                  const std::vector<io::IpAddress>& bases) {
    std::vector<Entry> out;
    const unsigned w = family == AF_INET ? 32 : 128;
    for (size_t i = 0; i < n; ++i) {
        if (!out.empty() && rng() % 10 == 0) { // a duplicate: the last one must win
            Entry dup = out[rng() % out.size()];
            dup.value = static_cast<uint32_t>(1000000 + i);
            out.push_back(dup);
            continue;
        }
        io::IpAddress a = bases[rng() % bases.size()];
        // Diverge from the base after a random point so that siblings appear as well.
        if (rng() % 2) {
            const unsigned from = static_cast<unsigned>(rng() % (w + 1));
            for (unsigned b = from; b < w; ++b)
                set_bit(a, b, rng() % 2);
        }
        // Favour the lengths at the trie's level boundaries.
        static const unsigned kEdges[] = {0,  1,  7,  8,  9,  15, 16, 17, 23, 24,  25,
                                          31, 32, 33, 47, 48, 49, 63, 64, 65, 127, 128};
        unsigned len = static_cast<unsigned>(rng() % (w + 1));
        if (rng() % 3 == 0) len = std::min(w, kEdges[rng() % std::size(kEdges)]);
        out.push_back({masked(a, len), static_cast<uint32_t>(i)});
    }
    return out;
}

void expect_same(const PrefixTable& t, const Reference& ref, const io::IpAddress& a) {
    const Entry* want = ref.lookup(a);
    const Entry* got = t.lookup(a);
    ASSERT_EQ(str(got), str(want)) << a.to_string();
    const Entry* all[130];
    const size_t n = t.lookup_all(a, all, std::size(all));
    const auto want_all = ref.lookup_all(a);
    ASSERT_EQ(n, want_all.size()) << a.to_string();
    for (size_t i = 0; i < n; ++i)
        ASSERT_EQ(str(all[i]), str(want_all[i])) << a.to_string() << " #" << i;
}

// Addresses that sit on the edges of each prefix: its first and last address, a random one
// inside, and the ones just outside on either side. An off-by-one in a length or a level
// boundary shows up here.
std::vector<io::IpAddress> probes(std::mt19937_64& rng, const std::vector<Entry>& entries) {
    std::vector<io::IpAddress> out;
    for (const Entry& e : entries) {
        const io::IpAddress base = e.prefix.addr;
        const unsigned len = e.prefix.bits, w = width(base);
        io::IpAddress last = base, inside = base;
        for (unsigned b = len; b < w; ++b) {
            set_bit(last, b, true);
            set_bit(inside, b, rng() % 2);
        }
        out.push_back(base);
        out.push_back(last);
        out.push_back(inside);
        if (len > 0) { // the neighbouring prefix of the same length
            io::IpAddress flip = inside;
            set_bit(flip, len - 1, !bit(flip, len - 1));
            out.push_back(flip);
        }
        if (len < w) { // inside, in the other half
            io::IpAddress flip = inside;
            set_bit(flip, len, !bit(flip, len));
            out.push_back(flip);
        }
    }
    for (int i = 0; i < 2000; ++i)
        out.push_back(
            random_address(rng, entries.empty() ? AF_INET : entries[0].prefix.addr.family));
    return out;
}

TEST(PrefixTable, EmptyTable) {
    PrefixTable t;
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.lookup(A("10.0.0.1")), nullptr);
    EXPECT_EQ(t.lookup(A("2001:db8::1")), nullptr);
    EXPECT_EQ(t.lookup(io::IpAddress{}), nullptr);
    EXPECT_EQ(t.lookup_v4(0), nullptr);
    const Entry* out[4];
    EXPECT_EQ(t.lookup_all(A("10.0.0.1"), out, 4), 0u);
    EXPECT_GT(t.memory_bytes(), 0u);

    PrefixTable built = PrefixTable::build({});
    EXPECT_EQ(built.size(), 0u);
    EXPECT_EQ(built.lookup(A("::")), nullptr);
    EXPECT_EQ(built.lookup_v4(0xffffffff), nullptr);
}

TEST(PrefixTable, LevelBoundariesV4) {
    // Lengths on both sides of the 16-8-8 strides.
    auto t = PrefixTable::build({{P("10.0.0.0/8"), 8},
                                 {P("10.1.0.0/16"), 16},
                                 {P("10.1.0.0/17"), 17},
                                 {P("10.1.2.0/23"), 23},
                                 {P("10.1.2.0/24"), 24},
                                 {P("10.1.2.128/25"), 25},
                                 {P("10.1.2.255/32"), 32},
                                 {P("10.2.0.0/15"), 15}});
    const std::pair<const char*, int> cases[] = {
        {"9.255.255.255", -1}, {"10.0.0.0", 8},      {"10.255.255.255", 8}, {"11.0.0.0", -1},
        {"10.1.0.0", 17},      {"10.1.127.255", 17}, {"10.1.128.0", 16},    {"10.1.255.255", 16},
        {"10.1.2.0", 24},      {"10.1.2.127", 24},   {"10.1.2.128", 25},    {"10.1.2.254", 25},
        {"10.1.2.255", 32},    {"10.1.3.0", 23},     {"10.1.3.255", 23},    {"10.1.4.0", 17},
        {"10.2.0.0", 15},      {"10.3.255.255", 15}, {"10.4.0.0", 8},       {"10.0.255.255", 8},
    };
    for (auto [addr, want] : cases) {
        const Entry* e = t.lookup(A(addr));
        EXPECT_EQ(e ? static_cast<int>(e->value) : -1, want) << addr;
        uint32_t n;
        std::memcpy(&n, A(addr).bytes, 4);
        EXPECT_EQ(t.lookup_v4(ntohl(n)), e) << addr;
    }
}

TEST(PrefixTable, LevelBoundariesV6) {
    // Lengths on both sides of the 16-8-4-4... strides and of the nibble and byte edges.
    auto t = PrefixTable::build({{P("2001:db8::/32"), 32},
                                 {P("2001:db8::/33"), 33},
                                 {P("2001:db8:1::/48"), 48},
                                 {P("2001:db8::/47"), 47},
                                 {P("2001:db8:1:8000::/49"), 49},
                                 {P("2001:db8:1:2::/64"), 64},
                                 {P("2001:db8:1:2::1/128"), 128},
                                 {P("2001:db0::/28"), 28}});
    const std::pair<const char*, int> cases[] = {
        {"2001:daf:ffff:ffff:ffff:ffff:ffff:ffff", -1},
        {"2001:db0::", 28},
        {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", 28},
        {"2001:db8::", 47},
        {"2001:db8:0:ffff:ffff:ffff:ffff:ffff", 47},
        {"2001:db8:2::", 33},
        {"2001:db8:7fff:ffff:ffff:ffff:ffff:ffff", 33},
        {"2001:db8:8000::", 32},
        {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 32},
        {"2001:db9::", 28},
        {"2001:dbf:ffff:ffff:ffff:ffff:ffff:ffff", 28},
        {"2001:dc0::", -1},
        {"2001:db8:1::", 48},
        {"2001:db8:1:7fff:ffff:ffff:ffff:ffff", 48},
        {"2001:db8:1:8000::", 49},
        {"2001:db8:1:ffff:ffff:ffff:ffff:ffff", 49},
        {"2001:db8:1:2::", 64},
        {"2001:db8:1:2::1", 128},
        {"2001:db8:1:2::2", 64},
        {"2001:db8:1:2:ffff:ffff:ffff:ffff", 64},
        {"2001:db8:1:3::", 48},
    };
    for (auto [addr, want] : cases) {
        const Entry* e = t.lookup(A(addr));
        EXPECT_EQ(e ? static_cast<int>(e->value) : -1, want) << addr;
    }
}

// IPv6 levels below /16 are stored run-length compressed; here nodes with many runs (up to all
// 256 slots distinct), so that every part of a node's rank arithmetic is used.
TEST(PrefixTable, DenseIpv6Nodes) {
    std::mt19937_64 rng(5);
    std::vector<Entry> entries;
    for (unsigned x = 0; x < 256; ++x) {
        // 2001:0dXX::/32 for most XX: the node for bits 24-32 of 2001:0d00::/24.
        if (x % 7 != 3) entries.push_back({P(printf_str("2001:d%02x::/32", x)), x});
        // 2001:db8:XX00::/40 with a /36 now and then: the node for bits 32-40.
        if (x % 5 != 0) entries.push_back({P(printf_str("2001:db8:%02x00::/40", x)), 1000 + x});
        if (x % 16 == 0) entries.push_back({P(printf_str("2001:db8:%02x00::/36", x)), 2000 + x});
        // Alternating /48s: every other slot of the node for bits 40-48.
        if (x % 2 == 0) entries.push_back({P(printf_str("2001:db8:ff%02x::/48", x)), 3000 + x});
    }
    entries.push_back({P("2001:d00::/24"), 9});
    std::shuffle(entries.begin(), entries.end(), rng);
    const PrefixTable t = PrefixTable::build(entries);
    const Reference ref(entries);
    ASSERT_EQ(t.size(), ref.distinct());
    for (const io::IpAddress& a : probes(rng, entries))
        ASSERT_NO_FATAL_FAILURE(expect_same(t, ref, a));
}

TEST(PrefixTable, DefaultRoutesAndHostRoutes) {
    auto t = PrefixTable::build({{P("0.0.0.0/0"), 1},
                                 {P("::/0"), 2},
                                 {P("255.255.255.255/32"), 3},
                                 {P("0.0.0.0/32"), 4},
                                 {P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), 5},
                                 {P("::/128"), 6}});
    EXPECT_EQ(t.size(), 6u);
    EXPECT_EQ(str(t.lookup(A("1.2.3.4"))), "0.0.0.0/0=1");
    EXPECT_EQ(str(t.lookup(A("255.255.255.255"))), "255.255.255.255/32=3");
    EXPECT_EQ(str(t.lookup(A("255.255.255.254"))), "0.0.0.0/0=1");
    EXPECT_EQ(str(t.lookup(A("0.0.0.0"))), "0.0.0.0/32=4");
    EXPECT_EQ(str(t.lookup(A("0.0.0.1"))), "0.0.0.0/0=1");
    EXPECT_EQ(str(t.lookup(A("2001:db8::1"))), "::/0=2");
    EXPECT_EQ(str(t.lookup(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))),
              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128=5");
    EXPECT_EQ(str(t.lookup(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"))), "::/0=2");
    EXPECT_EQ(str(t.lookup(A("::"))), "::/128=6");
    EXPECT_EQ(str(t.lookup(A("::1"))), "::/0=2");
}

TEST(PrefixTable, FamiliesAreSeparate) {
    // 10.0.0.0 and 0a00:: share their leading bytes; neither may match the other family.
    auto t = PrefixTable::build({{P("0.0.0.0/0"), 1}, {P("10.0.0.0/8"), 2}, {P("a00::/8"), 3}});
    EXPECT_EQ(str(t.lookup(A("10.1.2.3"))), "10.0.0.0/8=2");
    EXPECT_EQ(str(t.lookup(A("a00::1"))), "a00::/8=3");
    EXPECT_EQ(t.lookup(A("b00::1")), nullptr); // no IPv6 default route
    // An IPv4-mapped address is an IPv6 address here; IpAddress::from_sockaddr unmaps.
    EXPECT_EQ(t.lookup(A("::ffff:10.1.2.3")), nullptr);
    EXPECT_EQ(t.lookup(io::IpAddress{}), nullptr); // no family

    auto v6only = PrefixTable::build({{P("::/0"), 1}});
    EXPECT_EQ(v6only.lookup(A("10.1.2.3")), nullptr);
    EXPECT_EQ(v6only.lookup_v4(0x0a010203), nullptr);
    EXPECT_EQ(str(v6only.lookup(A("::1"))), "::/0=1");
}

TEST(PrefixTable, DuplicatesLastWins) {
    auto t = PrefixTable::build({{P("10.0.0.0/8"), 1},
                                 {P("10.1.0.0/16"), 2},
                                 {P("10.0.0.0/8"), 3},
                                 {P("2001:db8::/32"), 4},
                                 {P("10.0.0.0/8"), 5},
                                 {P("2001:db8::/32"), 6}});
    EXPECT_EQ(t.size(), 3u);
    EXPECT_EQ(str(t.lookup(A("10.2.0.0"))), "10.0.0.0/8=5");
    EXPECT_EQ(str(t.lookup(A("10.1.0.0"))), "10.1.0.0/16=2");
    EXPECT_EQ(str(t.lookup(A("2001:db8::"))), "2001:db8::/32=6");
    const Entry* all[4];
    ASSERT_EQ(t.lookup_all(A("10.1.0.0"), all, 4), 2u);
    EXPECT_EQ(str(all[1]), "10.0.0.0/8=5");
}

TEST(PrefixTable, LookupAllMostSpecificFirst) {
    auto t = PrefixTable::build({{P("10.1.2.128/25"), 25},
                                 {P("0.0.0.0/0"), 0},
                                 {P("10.1.2.129/32"), 32},
                                 {P("10.0.0.0/8"), 8},
                                 {P("10.1.2.0/24"), 24},
                                 {P("10.1.0.0/16"), 16},
                                 {P("10.1.3.0/24"), 99}});
    const Entry* out[8];
    ASSERT_EQ(t.lookup_all(A("10.1.2.129"), out, 8), 6u);
    const uint32_t want[] = {32, 25, 24, 16, 8, 0};
    for (size_t i = 0; i < 6; ++i)
        EXPECT_EQ(out[i]->value, want[i]) << i;
    // `max` truncates to the most specific ones.
    ASSERT_EQ(t.lookup_all(A("10.1.2.129"), out, 2), 2u);
    EXPECT_EQ(out[0]->value, 32u);
    EXPECT_EQ(out[1]->value, 25u);
    EXPECT_EQ(t.lookup_all(A("10.1.2.129"), out, 0), 0u);
    ASSERT_EQ(t.lookup_all(A("10.1.2.1"), out, 8), 4u);
    EXPECT_EQ(out[0]->value, 24u);
    EXPECT_EQ(out[3]->value, 0u);
    ASSERT_EQ(t.lookup_all(A("11.0.0.0"), out, 8), 1u);
    EXPECT_EQ(t.parent(out[0]), nullptr);
}

TEST(PrefixTable, LookupAllFullIpv6Chain) {
    // Every length of one address: the longest possible chain, 129 entries.
    const io::IpAddress a = A("2001:db8:85a3:8d3:1319:8a2e:370:7348");
    std::vector<Entry> entries;
    for (unsigned len = 0; len <= 128; ++len)
        entries.push_back({masked(a, len), len});
    std::shuffle(entries.begin(), entries.end(), std::mt19937_64(7));
    auto t = PrefixTable::build(entries);
    EXPECT_EQ(t.size(), 129u);
    const Entry* out[129];
    ASSERT_EQ(t.lookup_all(a, out, 129), 129u);
    for (unsigned i = 0; i < 129; ++i)
        EXPECT_EQ(out[i]->value, 128 - i);
}

TEST(PrefixTable, NormalisesAndSkipsInvalid) {
    io::IpPrefix sloppy = P("10.1.0.0/16");
    sloppy.addr.bytes[2] = 7; // host bits set: 10.1.7.0/16
    io::IpPrefix v4_too_long = P("10.0.0.0/8");
    v4_too_long.bits = 33;
    io::IpPrefix v6_too_long = P("::/0");
    v6_too_long.bits = 129;
    io::IpPrefix no_family;
    no_family.bits = 8;
    auto t = PrefixTable::build(
        {{sloppy, 1}, {v4_too_long, 2}, {v6_too_long, 3}, {no_family, 4}, {P("10.1.0.0/16"), 5}});
    // The sloppy one is the same prefix as the last one, which wins.
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(str(t.lookup(A("10.1.200.1"))), "10.1.0.0/16=5");
    EXPECT_EQ(t.lookup(A("10.2.0.0")), nullptr);

    // Host bits inside a partly masked byte.
    io::IpPrefix v4_17 = P("10.1.128.0/17");
    v4_17.addr.bytes[2] = 0xff;
    v4_17.addr.bytes[3] = 1;
    io::IpPrefix v6_45 = P("2001:db8:8::/45");
    v6_45.addr.bytes[5] = 0x0f; // 2001:db8:f::
    v6_45.addr.bytes[15] = 1;
    auto u = PrefixTable::build({{v4_17, 1}, {v6_45, 2}});
    EXPECT_EQ(str(u.lookup(A("10.1.128.0"))), "10.1.128.0/17=1");
    EXPECT_EQ(u.lookup(A("10.1.127.255")), nullptr);
    EXPECT_EQ(str(u.lookup(A("2001:db8:f::"))), "2001:db8:8::/45=2");
    EXPECT_EQ(u.lookup(A("2001:db8:7::")), nullptr);
}

TEST(PrefixTable, MoveKeepsEntries) {
    auto t = PrefixTable::build({{P("10.0.0.0/8"), 1}, {P("2001:db8::/32"), 2}});
    PrefixTable moved = std::move(t);
    EXPECT_EQ(str(moved.lookup(A("10.9.9.9"))), "10.0.0.0/8=1");
    EXPECT_EQ(str(moved.lookup(A("2001:db8::9"))), "2001:db8::/32=2");
    PrefixTable assigned = PrefixTable::build({{P("::/0"), 3}});
    assigned = std::move(moved);
    EXPECT_EQ(str(assigned.lookup(A("2001:db8::9"))), "2001:db8::/32=2");
    EXPECT_EQ(assigned.size(), 2u);
    // Moved-from tables are empty, not dangling.
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(moved.lookup(A("10.9.9.9")), nullptr);
    EXPECT_EQ(moved.lookup(A("2001:db8::9")), nullptr);
    EXPECT_EQ(moved.lookup_v4(0x0a090909), nullptr);
    EXPECT_EQ(moved.size(), 0u);
}

// Every address in the /16s where the random prefixes live (and their neighbours), against
// the linear scan: all of levels 2 and 3 of the IPv4 trie, exhaustively.
TEST(PrefixTable, RandomV4ExhaustiveAgainstLinearScan) {
    for (uint64_t seed = 1; seed <= 2; ++seed) {
        std::mt19937_64 rng(seed);
        const uint32_t his[] = {0x0000, 0x0a01, 0x8000, 0xffff};
        std::vector<io::IpAddress> bases;
        for (uint32_t hi : his)
            bases.push_back(v4(hi << 16 | static_cast<uint32_t>(rng() & 0xffff)));
        std::vector<Entry> entries = random_entries(rng, AF_INET, 300, bases);
        // The four /16s and their neighbours, then some of the /16s that diverging prefixes
        // went to; the rest get the probes below.
        std::vector<uint32_t> sweep;
        for (uint32_t hi : his)
            for (uint32_t d : {0u, 1u, 0xffffu})
                sweep.push_back((hi + d) & 0xffff);
        for (const Entry& e : entries) {
            uint32_t n;
            std::memcpy(&n, e.prefix.addr.bytes, 4);
            if (sweep.size() < 16 &&
                std::find(sweep.begin(), sweep.end(), ntohl(n) >> 16) == sweep.end())
                sweep.push_back(ntohl(n) >> 16);
        }

        const PrefixTable t = PrefixTable::build(entries);
        const Reference ref(entries);
        const ReferenceV4 ref4(entries);
        ASSERT_EQ(t.size(), ref.distinct());
        for (uint32_t hi : sweep) {
            const ReferenceV4 here = ref4.within(hi);
            for (uint32_t lo = 0; lo <= 0xffff; ++lo) {
                const uint32_t a = hi << 16 | lo;
                const auto [bits, value] = here.lookup(a);
                const Entry* e = t.lookup_v4(a);
                ASSERT_EQ(e ? static_cast<int>(e->prefix.bits) : -1, bits) << v4(a).to_string();
                if (e) {
                    ASSERT_EQ(e->value, value) << v4(a).to_string();
                }
            }
        }
        for (const io::IpAddress& a : probes(rng, entries))
            ASSERT_NO_FATAL_FAILURE(expect_same(t, ref, a));
    }
}

TEST(PrefixTable, RandomV4AgainstLinearScan) {
    for (uint64_t seed = 10; seed < 20; ++seed) {
        std::mt19937_64 rng(seed);
        std::vector<io::IpAddress> bases;
        for (int i = 0; i < 6; ++i)
            bases.push_back(random_address(rng, AF_INET));
        std::vector<Entry> entries = random_entries(rng, AF_INET, 400, bases);
        const PrefixTable t = PrefixTable::build(entries);
        const Reference ref(entries);
        ASSERT_EQ(t.size(), ref.distinct());
        for (const io::IpAddress& a : probes(rng, entries))
            ASSERT_NO_FATAL_FAILURE(expect_same(t, ref, a));
    }
}

TEST(PrefixTable, RandomV6AgainstLinearScan) {
    for (uint64_t seed = 100; seed < 110; ++seed) {
        std::mt19937_64 rng(seed);
        std::vector<io::IpAddress> bases;
        for (int i = 0; i < 6; ++i)
            bases.push_back(random_address(rng, AF_INET6));
        bases.push_back(A("::"));
        bases.push_back(A("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        std::vector<Entry> entries = random_entries(rng, AF_INET6, 400, bases);
        const PrefixTable t = PrefixTable::build(entries);
        const Reference ref(entries);
        ASSERT_EQ(t.size(), ref.distinct());
        for (const io::IpAddress& a : probes(rng, entries))
            ASSERT_NO_FATAL_FAILURE(expect_same(t, ref, a));
    }
}

TEST(PrefixTable, RandomMixedFamilies) {
    std::mt19937_64 rng(42);
    std::vector<io::IpAddress> b4, b6;
    for (int i = 0; i < 4; ++i) {
        b4.push_back(random_address(rng, AF_INET));
        b6.push_back(random_address(rng, AF_INET6));
    }
    // IPv6 bases that start with the same bytes as the IPv4 ones.
    for (const auto& a : b4) {
        io::IpAddress x = a;
        x.family = AF_INET6;
        b6.push_back(x);
    }
    std::vector<Entry> entries = random_entries(rng, AF_INET, 300, b4);
    const std::vector<Entry> e6 = random_entries(rng, AF_INET6, 300, b6);
    // Interleave so that the build, not the input, has to separate the families.
    for (size_t i = 0; i < e6.size(); ++i)
        entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(2 * i % (entries.size() + 1)),
                       e6[i]);
    const PrefixTable t = PrefixTable::build(entries);
    const Reference ref(entries);
    ASSERT_EQ(t.size(), ref.distinct());
    for (const io::IpAddress& a : probes(rng, entries))
        ASSERT_NO_FATAL_FAILURE(expect_same(t, ref, a));
    for (int i = 0; i < 3000; ++i) {
        ASSERT_NO_FATAL_FAILURE(expect_same(t, ref, random_address(rng, AF_INET)));
        ASSERT_NO_FATAL_FAILURE(expect_same(t, ref, random_address(rng, AF_INET6)));
    }
}

} // namespace
} // namespace vcdn::steer
