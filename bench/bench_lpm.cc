// Benchmarks of the steering prefix table (vcdn::steer::PrefixTable) against a full-size table.
//
//   VCDN_PREFIXES=/tmp/prefixes.txt build/bench/bench_lpm   # a file from make_prefixes.py or a
//                                                           # RIB dump, one prefix per line
//   build/bench/bench_lpm                                   # 1M IPv4 + 200k IPv6 generated here
//
// Throughput benchmarks run independent lookups back to back, so the out-of-order core overlaps
// their cache misses, which is how a steering loop over a batch of clients behaves; the
// *Latency ones make each lookup depend on the previous one, the cost of a lone lookup.
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include <vcdn/steer/prefix_table.h>

namespace {

using vcdn::io::IpAddress;
using vcdn::io::IpPrefix;
using vcdn::steer::PrefixTable;
using Entry = PrefixTable::Entry;

// The distributions of bench/make_prefixes.py (see there for where they come from); keep the
// two in step.
const std::pair<int, int> kV4Lengths[] = {
    {8, 2},     {9, 1},     {10, 3},     {11, 8},    {12, 25},    {13, 50},
    {14, 100},  {15, 150},  {16, 1350},  {17, 800},  {18, 1450},  {19, 2600},
    {20, 4200}, {21, 5000}, {22, 11000}, {23, 9800}, {24, 60000},
};
const std::pair<int, int> kV6Lengths[] = {
    {19, 1},  {20, 1},   {22, 1},  {24, 1},   {28, 1},  {29, 30}, {30, 5},
    {31, 3},  {32, 140}, {33, 8},  {34, 8},   {35, 5},  {36, 30}, {37, 5},
    {38, 8},  {39, 5},   {40, 60}, {41, 5},   {42, 15}, {43, 5},  {44, 70},
    {45, 10}, {46, 25},  {47, 30}, {48, 500}, {56, 3},  {64, 3},  {128, 1},
};
struct V6Block {
    uint16_t top16;
    int bits;
    int share;
};
const V6Block kV6Blocks[] = {{0x2001, 16, 10}, {0x2400, 12, 25}, {0x2600, 12, 25},
                             {0x2800, 12, 10}, {0x2a00, 12, 25}, {0x2c00, 12, 5}};
constexpr int kMaxTries = 64;

template <size_t N> std::discrete_distribution<int> weights(const std::pair<int, int> (&t)[N]) {
    std::vector<double> w;
    for (const auto& [len, weight] : t)
        w.push_back(weight);
    return std::discrete_distribution<int>(w.begin(), w.end());
}

IpPrefix make_prefix(int family, uint64_t hi, uint64_t lo, int len) {
    IpPrefix p;
    p.addr.family = static_cast<uint8_t>(family);
    p.bits = static_cast<uint8_t>(len);
    const int width = family == AF_INET ? 32 : 128;
    for (int i = len; i < width; ++i) { // clear host bits
        if (i < 64)
            hi &= ~(uint64_t{1} << (63 - i));
        else
            lo &= ~(uint64_t{1} << (127 - i));
    }
    for (int i = 0; i < 8; ++i) {
        p.addr.bytes[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
        p.addr.bytes[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
    }
    return p;
}

struct KeyHash {
    size_t operator()(const std::pair<uint64_t, uint64_t>& k) const {
        return std::hash<uint64_t>()(k.first * 0x9e3779b97f4a7c15ull ^ k.second);
    }
};

// Appends n distinct prefixes: draw(len) proposes the top 64 and low 64 bits for a length.
template <size_t N, class Draw>
void distinct_prefixes(std::mt19937_64& rng, int family, size_t n,
                       const std::pair<int, int> (&lengths)[N], Draw draw,
                       std::vector<Entry>* out) {
    auto pick = weights(lengths);
    std::unordered_set<std::pair<uint64_t, uint64_t>, KeyHash> seen;
    seen.reserve(n * 2);
    size_t made = 0;
    for (size_t attempts = 0; made < n && attempts < 20 * n + 1000; ++attempts) {
        const int len = lengths[pick(rng)].first;
        for (int t = 0; t < kMaxTries; ++t) {
            auto [hi, lo] = draw(len);
            const IpPrefix p = make_prefix(family, hi, lo, len);
            uint64_t khi, klo;
            std::memcpy(&khi, p.addr.bytes, 8);
            std::memcpy(&klo, p.addr.bytes + 8, 8);
            // The length is mixed in; a false collision only costs another draw.
            if (!seen.emplace(khi ^ static_cast<uint64_t>(len) << 56, klo ^ len).second) continue;
            out->push_back({p, static_cast<uint32_t>(out->size())});
            ++made;
            break;
        }
    }
}

std::vector<Entry> generate(size_t n4, size_t n6, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Entry> out;
    out.reserve(n4 + n6);

    std::vector<uint32_t> first_octets;
    for (uint32_t o = 1; o < 224; ++o)
        if (o != 10 && o != 127) first_octets.push_back(o);
    std::vector<uint32_t> slash16s;
    for (uint32_t o : first_octets)
        for (uint32_t b = 0; b < 256; ++b)
            slash16s.push_back(o << 8 | b);
    std::shuffle(slash16s.begin(), slash16s.end(), rng);
    slash16s.resize(std::min(slash16s.size(), std::max<size_t>(16, n4 * 45 / 1000)));
    distinct_prefixes(
        rng, AF_INET, n4, kV4Lengths,
        [&](int len) -> std::pair<uint64_t, uint64_t> {
            const uint32_t a = len >= 16 ? slash16s[rng() % slash16s.size()] << 16 |
                                               static_cast<uint32_t>(rng() & 0xffff)
                                         : first_octets[rng() % first_octets.size()] << 24 |
                                               static_cast<uint32_t>(rng() & 0xffffff);
            return {uint64_t{a} << 32, 0};
        },
        &out);

    std::vector<double> shares;
    for (const V6Block& b : kV6Blocks)
        shares.push_back(b.share);
    std::discrete_distribution<size_t> block(shares.begin(), shares.end());
    std::vector<uint64_t> allocations; // /32s, in the top 32 bits
    for (size_t i = 0; i < std::max<size_t>(1, n6 / 5); ++i) {
        const V6Block& b = kV6Blocks[block(rng)];
        const uint64_t top = uint64_t{b.top16} << 48;
        const uint64_t random = (rng() >> (32 + b.bits)) << 32; // 32 - bits random bits below
        allocations.push_back(top | random);
    }
    distinct_prefixes(
        rng, AF_INET6, n6, kV6Lengths,
        [&](int len) -> std::pair<uint64_t, uint64_t> {
            const uint64_t alloc = allocations[rng() % allocations.size()];
            if (len <= 32) return {alloc, 0};
            return {alloc | (rng() & 0xffffffffull), rng()};
        },
        &out);
    return out;
}

std::vector<Entry> load(const char* path) {
    std::ifstream in(path);
    if (!in) {
        std::fprintf(stderr, "bench_lpm: cannot open %s\n", path);
        std::exit(1);
    }
    std::vector<Entry> out;
    std::string line;
    size_t lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (line.empty() || line[0] == '#') continue;
        auto p = IpPrefix::parse(line);
        if (!p) {
            std::fprintf(stderr, "bench_lpm: %s:%zu: %s\n", path, lineno,
                         p.error().message.c_str());
            std::exit(1);
        }
        out.push_back({*p, static_cast<uint32_t>(out.size())});
    }
    return out;
}

// A random address inside a prefix (random host bits).
IpAddress inside(const IpPrefix& p, std::mt19937_64& rng) {
    IpAddress a = p.addr;
    const unsigned width = a.family == AF_INET ? 32 : 128;
    for (unsigned i = p.bits; i < width; ++i)
        if (rng() & 1) a.bytes[i / 8] |= static_cast<uint8_t>(0x80 >> (i % 8));
    return a;
}

uint32_t host_order(const IpAddress& a) {
    uint32_t n;
    std::memcpy(&n, a.bytes, 4);
    return ntohl(n);
}

constexpr size_t kAddresses = 1 << 20; // 4 MiB of IPv4 addresses: streamed, not cached
constexpr size_t kBatch = 1024;        // lookups per benchmark iteration

struct Fixture {
    std::vector<Entry> entries;
    PrefixTable table;
    double build_ms = 0;
    size_t v4 = 0, v6 = 0;
    std::vector<uint32_t> v4_uniform;  // any address: ~45% fall outside the table
    std::vector<uint32_t> v4_routed;   // inside a random table prefix, like real clients
    std::vector<IpAddress> v6_routed;  // inside a random table prefix
    std::vector<IpAddress> v6_uniform; // 7 in 8 miss at the root

    Fixture() {
        const char* path = std::getenv("VCDN_PREFIXES");
        entries = path && *path ? load(path) : generate(1000000, 200000, 1);
        for (const Entry& e : entries)
            (e.prefix.addr.family == AF_INET ? v4 : v6)++;
        auto copy = entries;
        const auto t0 = std::chrono::steady_clock::now();
        table = PrefixTable::build(std::move(copy));
        build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                       .count();
        std::fprintf(stderr,
                     "bench_lpm: %s: %zu IPv4 + %zu IPv6 prefixes, %zu distinct; build %.0f ms; "
                     "memory %.1f MiB; nodes %zu IPv4, %zu IPv6\n",
                     path && *path ? path : "generated", v4, v6, table.size(), build_ms,
                     static_cast<double>(table.memory_bytes()) / (1 << 20), table.node_count_v4(),
                     table.node_count_v6());

        std::mt19937_64 rng(2);
        std::vector<const Entry*> e4, e6;
        for (const Entry& e : entries)
            (e.prefix.addr.family == AF_INET ? e4 : e6).push_back(&e);
        for (size_t i = 0; i < kAddresses; ++i) {
            v4_uniform.push_back(static_cast<uint32_t>(rng()));
            if (!e4.empty())
                v4_routed.push_back(host_order(inside(e4[rng() % e4.size()]->prefix, rng)));
            if (!e6.empty()) v6_routed.push_back(inside(e6[rng() % e6.size()]->prefix, rng));
            IpAddress a;
            a.family = AF_INET6;
            for (auto& b : a.bytes)
                b = static_cast<uint8_t>(rng());
            v6_uniform.push_back(a);
        }
        if (v4_routed.empty()) v4_routed = v4_uniform;
        if (v6_routed.empty()) v6_routed = v6_uniform;
    }
};

Fixture& fixture() {
    static Fixture f;
    return f;
}

void report(benchmark::State& st, size_t lookups, uint64_t hits) {
    st.SetItemsProcessed(static_cast<int64_t>(lookups));
    st.counters["hit%"] =
        lookups ? 100.0 * static_cast<double>(hits) / static_cast<double>(lookups) : 0;
    st.counters["table"] = static_cast<double>(fixture().table.size());
}

// Reads e->value too, as a caller would: one more cache miss after the trie walk.
template <class Addr, class Lookup>
void throughput(benchmark::State& st, const std::vector<Addr>& addrs, Lookup lookup) {
    size_t next = 0, lookups = 0;
    uint64_t hits = 0, sum = 0;
    for (auto _ : st) {
        for (size_t i = 0; i < kBatch; ++i) {
            const Entry* e = lookup(addrs[next + i]);
            hits += e != nullptr;
            sum += e ? e->value : 0;
        }
        next = (next + kBatch) % addrs.size();
        lookups += kBatch;
    }
    benchmark::DoNotOptimize(sum);
    report(st, lookups, hits);
}

// Each lookup's input depends on the previous result (through an opaque zero the compiler
// cannot fold), so lookups cannot overlap; the addresses are still read in sequence, so their
// own loads are prefetched and what is measured is the table.
uint32_t with_dependency(uint32_t a, uint32_t dep) {
    return a ^ dep;
}
IpAddress with_dependency(IpAddress a, uint32_t dep) {
    a.bytes[15] ^= static_cast<uint8_t>(dep);
    return a;
}

template <class Addr, class Lookup>
void latency(benchmark::State& st, const std::vector<Addr>& addrs, Lookup lookup) {
    uint32_t zero = 0;
    benchmark::DoNotOptimize(zero);
    size_t next = 0, lookups = 0;
    uint64_t hits = 0;
    uint32_t dep = 0;
    for (auto _ : st) {
        for (size_t i = 0; i < kBatch; ++i) {
            const Entry* e = lookup(with_dependency(addrs[next + i], dep));
            hits += e != nullptr;
            dep = (e ? e->value : 1) & zero;
        }
        next = (next + kBatch) % addrs.size();
        lookups += kBatch;
    }
    report(st, lookups, hits);
}

void BM_BuildFull(benchmark::State& st) {
    Fixture& f = fixture();
    for (auto _ : st) {
        st.PauseTiming();
        auto copy = f.entries;
        st.ResumeTiming();
        PrefixTable t = PrefixTable::build(std::move(copy));
        benchmark::DoNotOptimize(t.size());
        st.PauseTiming();
        t = PrefixTable(); // free outside the timing
        st.ResumeTiming();
    }
    st.counters["prefixes"] = static_cast<double>(f.entries.size());
    st.counters["MiB"] = static_cast<double>(f.table.memory_bytes()) / (1 << 20);
}
BENCHMARK(BM_BuildFull)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_LookupV4Uniform(benchmark::State& st) {
    const PrefixTable& t = fixture().table;
    throughput(st, fixture().v4_uniform, [&](uint32_t a) { return t.lookup_v4(a); });
}
BENCHMARK(BM_LookupV4Uniform);

void BM_LookupV4Routed(benchmark::State& st) {
    const PrefixTable& t = fixture().table;
    throughput(st, fixture().v4_routed, [&](uint32_t a) { return t.lookup_v4(a); });
}
BENCHMARK(BM_LookupV4Routed);

// Without reading the entry: the trie walk alone.
void BM_LookupV4PointerOnly(benchmark::State& st) {
    const PrefixTable& t = fixture().table;
    const auto& addrs = fixture().v4_uniform;
    size_t next = 0, lookups = 0;
    uintptr_t acc = 0;
    for (auto _ : st) {
        for (size_t i = 0; i < kBatch; ++i)
            acc += reinterpret_cast<uintptr_t>(t.lookup_v4(addrs[next + i]));
        next = (next + kBatch) % addrs.size();
        lookups += kBatch;
    }
    benchmark::DoNotOptimize(acc);
    st.SetItemsProcessed(static_cast<int64_t>(lookups));
}
BENCHMARK(BM_LookupV4PointerOnly);

void BM_LookupV4ViaIpAddress(benchmark::State& st) {
    const PrefixTable& t = fixture().table;
    static const std::vector<IpAddress> addrs = [] {
        std::vector<IpAddress> v;
        for (uint32_t a : fixture().v4_uniform) {
            IpAddress x;
            x.family = AF_INET;
            const uint32_t n = htonl(a);
            std::memcpy(x.bytes, &n, 4);
            v.push_back(x);
        }
        return v;
    }();
    throughput(st, addrs, [&](const IpAddress& a) { return t.lookup(a); });
}
BENCHMARK(BM_LookupV4ViaIpAddress);

void BM_LookupV4Latency(benchmark::State& st) {
    const PrefixTable& t = fixture().table;
    latency(st, fixture().v4_uniform, [&](uint32_t a) { return t.lookup_v4(a); });
}
BENCHMARK(BM_LookupV4Latency);

void BM_LookupV6Routed(benchmark::State& st) {
    const PrefixTable& t = fixture().table;
    throughput(st, fixture().v6_routed, [&](const IpAddress& a) { return t.lookup(a); });
}
BENCHMARK(BM_LookupV6Routed);

void BM_LookupV6Uniform(benchmark::State& st) {
    const PrefixTable& t = fixture().table;
    throughput(st, fixture().v6_uniform, [&](const IpAddress& a) { return t.lookup(a); });
}
BENCHMARK(BM_LookupV6Uniform);

void BM_LookupV6Latency(benchmark::State& st) {
    const PrefixTable& t = fixture().table;
    latency(st, fixture().v6_routed, [&](const IpAddress& a) { return t.lookup(a); });
}
BENCHMARK(BM_LookupV6Latency);

template <class Addr> void lookup_all(benchmark::State& st, const std::vector<Addr>& addrs) {
    const PrefixTable& t = fixture().table;
    const Entry* out[129];
    size_t next = 0, lookups = 0, found = 0;
    for (auto _ : st) {
        for (size_t i = 0; i < kBatch; ++i)
            found += t.lookup_all(addrs[next + i], out, std::size(out));
        next = (next + kBatch) % addrs.size();
        lookups += kBatch;
    }
    st.SetItemsProcessed(static_cast<int64_t>(lookups));
    st.counters["entries/lookup"] = static_cast<double>(found) / static_cast<double>(lookups);
}

void BM_LookupAllV4Routed(benchmark::State& st) {
    static const std::vector<IpAddress> addrs = [] {
        std::vector<IpAddress> v;
        for (uint32_t a : fixture().v4_routed) {
            IpAddress x;
            x.family = AF_INET;
            const uint32_t n = htonl(a);
            std::memcpy(x.bytes, &n, 4);
            v.push_back(x);
        }
        return v;
    }();
    lookup_all(st, addrs);
}
BENCHMARK(BM_LookupAllV4Routed);

void BM_LookupAllV6Routed(benchmark::State& st) {
    lookup_all(st, fixture().v6_routed);
}
BENCHMARK(BM_LookupAllV6Routed);

} // namespace

BENCHMARK_MAIN();
