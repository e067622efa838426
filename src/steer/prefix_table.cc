// Why a hand-written trie rather than a library or a std::map per prefix length: the lookup is
// on the steering hot path (every client request, every DNS answer), it must run lock-free from
// all cores against ~1.2M prefixes, and the structures that do that in a few dependent loads,
// multibit tries with controlled prefix expansion, fit in a few hundred lines. A std::map per
// length costs up to 33 (IPv4) or 129 (IPv6) tree searches; radix-tree libraries are either
// mutable under locks (the kernel's fib_trie) or not packaged for Debian.
//
// Layout: all nodes of both families live in one flat uint32 array. A slot holds 0 (no entry),
// an entry index + 1, or kChild | the array offset of a child node.
// - IPv4: dense nodes, strides 16-8-8. A node of stride k is 2^k slots indexed by the next k
//   address bits, so a lookup is at most three loads, the first in a 256 KiB root that stays
//   in L2. A full table has ~45k level-2 nodes: ~45 MiB, bounded by 64 MiB for any table
//   without prefixes longer than /24.
// - IPv6: a dense 16-bit root, then 16-bit levels stored as RangeNodes: the sorted list of
//   where the value changes within the node's 65536 slots, searched by bisection. Real IPv6
//   tables are sparse below /16 (a /32 allocation holds a handful of more-specifics), so a
//   node is a few runs, typically one cache line, and a /48 is two nodes below the root.
//   Dense 4-bit nodes (eight dependent loads for a /48) and 8-bit bitmap-compressed ones
//   (four) were measured first: with a cache miss per load, 2-3x slower.
//
// Build: prefixes are inserted shortest first into dense nodes (IPv6 with 4-bit strides below
// the root, to keep the temporary trie small). A prefix lands in the level where its length
// ends and fills the 2^(level end - length) slots it covers ("controlled prefix expansion"); it
// can overwrite only shorter (less specific) prefixes there, and never a child node, since a
// child exists only below a longer prefix, which is inserted later. When a longer prefix has
// to descend through a slot holding an entry, the new child node starts filled with that
// entry, so every slot always holds the most specific entry covering it and a lookup needs no
// backtracking. Looking up a prefix's own address just before inserting it yields the most
// specific shorter prefix covering it: its parent for lookup_all. Last, each group of four
// 4-bit IPv6 levels is turned into RangeNodes.
#include <vcdn/steer/prefix_table.h>

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

namespace vcdn::steer {
namespace {

__extension__ typedef unsigned __int128 U128;

// The strides of one family's trie, first level first; they sum to the address width.
template <size_t N> struct Levels {
    std::array<uint8_t, N> stride;
    std::array<uint8_t, N> start; // bit offset of each level within the address
};

template <size_t N> constexpr Levels<N> make_levels(std::array<uint8_t, N> stride) {
    Levels<N> lv{stride, {}};
    unsigned at = 0;
    for (size_t i = 0; i < N; ++i) {
        lv.start[i] = static_cast<uint8_t>(at);
        at += stride[i];
    }
    return lv;
}

// PrefixTable::lookup_v4 hard-codes these strides.
constexpr auto kV4 = make_levels<3>({16, 8, 8});

// The IPv6 trie while building: a 16-bit root (IPv6 routes all sit in 2000::/3, so it is 1/8
// used but one load), then 4-bit levels, which RangePacker turns into 16-bit RangeNodes, four
// at a time.
static_assert((128 - 16) % 16 == 0);
constexpr size_t kV6Levels = 1 + (128 - 16) / 4;
constexpr std::array<uint8_t, kV6Levels> v6_strides() {
    std::array<uint8_t, kV6Levels> s{};
    s[0] = 16;
    for (size_t i = 1; i < s.size(); ++i)
        s[i] = 4;
    return s;
}
constexpr auto kV6 = make_levels<kV6Levels>(v6_strides());

static_assert(kV4.start.back() + kV4.stride.back() == 32);
static_assert(kV6.start.back() + kV6.stride.back() == 128);

constexpr size_t kRootSlots = size_t{1} << 16;
static_assert(kV4.stride[0] == 16 && kV6.stride[0] == 16);

uint32_t load_be32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

U128 load_be128(const uint8_t* p) {
    uint64_t hi, lo;
    std::memcpy(&hi, p, 8);
    std::memcpy(&lo, p + 8, 8);
    return (U128{__builtin_bswap64(hi)} << 64) | __builtin_bswap64(lo);
}

// Address bits [start, start + width), the address left-aligned in 128 bits.
uint32_t bits_at(U128 a, unsigned start, unsigned width) {
    return static_cast<uint32_t>((a << start) >> (128 - width));
}

// Any address as a left-aligned 128-bit number, so both families share the build code.
U128 left_aligned(const io::IpAddress& a) {
    return a.family == AF_INET ? U128{load_be32(a.bytes)} << 96 : load_be128(a.bytes);
}

unsigned max_bits(uint8_t family) {
    return family == AF_INET ? 32 : 128;
}

// Clears host bits (and the unused tail of an IPv4 address) so that equal prefixes compare
// equal and a prefix expands to exactly the slots it covers.
void clear_host_bits(io::IpPrefix& p) {
    const unsigned full = p.bits / 8, rest = p.bits % 8;
    unsigned i = full;
    if (rest) {
        p.addr.bytes[i] &= static_cast<uint8_t>(0xff << (8 - rest));
        ++i;
    }
    for (; i < sizeof p.addr.bytes; ++i)
        p.addr.bytes[i] = 0;
}

bool same_prefix(const io::IpPrefix& a, const io::IpPrefix& b) {
    return a.addr.family == b.addr.family && a.bits == b.bits &&
           std::memcmp(a.addr.bytes, b.addr.bytes, sizeof a.addr.bytes) == 0;
}

// Family (IPv4 first), then length, then address: the insertion order the build relies on.
bool insertion_order(const PrefixTable::Entry& x, const PrefixTable::Entry& y) {
    const bool x6 = x.prefix.addr.family == AF_INET6, y6 = y.prefix.addr.family == AF_INET6;
    if (x6 != y6) return y6;
    if (x.prefix.bits != y.prefix.bits) return x.prefix.bits < y.prefix.bits;
    return left_aligned(x.prefix.addr) < left_aligned(y.prefix.addr);
}

// Huge pages: a lookup touches a random slot of a ~50 MB array and then a random entry of a
// ~30 MB one, so with 4 KiB pages nearly every lookup would also miss the TLB twice. THP is
// commonly in "madvise" mode, hence the explicit ask.
constexpr size_t kHugePage = size_t{2} << 20;

void* allocate_huge(size_t bytes) {
    const size_t align = bytes >= kHugePage ? kHugePage : 64;
    const size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (p == nullptr) throw std::bad_alloc();
    if (align == kHugePage) (void)madvise(p, rounded, MADV_HUGEPAGE); // a hint; fine if refused
    return p;
}

// RangeNode: the 65536 slots of a 16-bit level as runs of equal slots. Layout in uint32s:
//   [0]          k, the number of runs
//   buckets      only when k > kBucketed: 257 uint16 (129 uint32s); bucket[b] is the run
//                holding slot 256 * b, bucket[256] = k - 1. It narrows the bisection to the
//                runs of one 256-slot stretch: the level under the root holds a few thousand
//                runs for the busy /16s (2001::/16, 2a0x::/16), where a plain bisection is a
//                dozen dependent loads.
//   starts       k uint16, ascending, the first 0: run i covers [start[i], start[i + 1])
//   values       k uint32, one per run
// A node of up to 10 runs is placed within one cache line.
constexpr size_t kLine = 64 / sizeof(uint32_t);
constexpr uint32_t kBucketed = 48;
constexpr size_t kBucketWords = (257 * 2 + 3) / 4;

constexpr size_t range_starts_at(size_t runs) {
    return 1 + (runs > kBucketed ? kBucketWords : 0);
}
constexpr size_t range_values_at(size_t runs) {
    return range_starts_at(runs) + (runs + 1) / 2;
}
constexpr size_t range_node_size(size_t runs) {
    return range_values_at(runs) + runs;
}

uint16_t load_u16(const uint32_t* words, size_t i) {
    uint16_t v;
    std::memcpy(&v, reinterpret_cast<const unsigned char*>(words) + 2 * i, sizeof v);
    return v;
}

uint32_t range_slot(const uint32_t* node, unsigned index) {
    const uint32_t k = node[0];
    uint32_t lo = 0, n = k;
    if (k > kBucketed) {
        lo = load_u16(node + 1, index >> 8);
        n = load_u16(node + 1, (index >> 8) + 1) - lo + 1;
    }
    // Bisection for the last start <= index; branch-free, the compiler emits a cmov.
    const uint32_t* starts = node + range_starts_at(k);
    while (n > 1) {
        const uint32_t half = n / 2;
        lo = load_u16(starts, lo + half) <= index ? lo + half : lo;
        n -= half;
    }
    return node[range_values_at(k) + lo];
}

} // namespace

// The trie under construction. Slots grow in a vector; build() copies them into the final,
// huge-page backed array once the size is known.
class PrefixTable::Builder {
public:
    std::vector<uint32_t> slots;
    size_t nodes = 0;

    uint32_t new_node(size_t count, uint32_t fill) {
        const size_t off = slots.size();
        if (off + count >= kChild) throw std::length_error("PrefixTable: too many trie nodes");
        slots.resize(off + count, fill);
        ++nodes;
        return static_cast<uint32_t>(off);
    }

    // The slot value a lookup of `a` ends on: the most specific entry inserted so far.
    template <size_t N> uint32_t find(const Levels<N>& lv, uint32_t root, U128 a) const {
        uint32_t off = root;
        for (size_t i = 0;; ++i) {
            const uint32_t s = slots[off + bits_at(a, lv.start[i], lv.stride[i])];
            if (!(s & kChild)) return s;
            off = s & ~kChild;
        }
    }

    template <size_t N>
    void insert(const Levels<N>& lv, uint32_t root, U128 a, unsigned len, uint32_t value) {
        uint32_t off = root;
        size_t i = 0;
        // Descend while the prefix goes on past this level.
        for (; lv.start[i] + lv.stride[i] < len; ++i) {
            const size_t at = off + bits_at(a, lv.start[i], lv.stride[i]);
            uint32_t s = slots[at];
            if (!(s & kChild)) {
                const uint32_t child = new_node(size_t{1} << lv.stride[i + 1], s);
                s = kChild | child;
                slots[at] = s; // after new_node: it may have moved the vector
            }
            off = s & ~kChild;
        }
        // Expand into the slots the prefix covers at its last level.
        const unsigned stride = lv.stride[i];
        const unsigned first = len == 0 ? 0 : bits_at(a, lv.start[i], stride);
        const size_t count = size_t{1} << (lv.start[i] + stride - len);
        std::fill_n(slots.begin() + off + first, count, value);
    }
};

// Rewrites the IPv6 part of the building trie (dense nodes, 4-bit levels) as RangeNodes
// appended to `out`.
class PrefixTable::RangePacker {
public:
    RangePacker(const std::vector<uint32_t>& dense, std::vector<uint32_t>& out)
        : dense_(dense), out_(out) {}
    size_t nodes = 0;

    // Packs the 16-bit level whose first 4-bit node is the dense node at `off`, and everything
    // below it; returns the RangeNode's offset in `out`.
    uint32_t pack(uint32_t off) {
        std::vector<Run> runs;
        collect(off, 0, 0, runs);

        const size_t size = range_node_size(runs.size());
        size_t at = out_.size();
        if ((size <= kLine && at % kLine + size > kLine) || (size > kLine && at % kLine != 0))
            at = (at + kLine - 1) / kLine * kLine;
        if (at + size >= kChild) throw std::length_error("PrefixTable: too many trie nodes");
        out_.resize(at + size, 0);
        const size_t k = runs.size();
        out_[at] = static_cast<uint32_t>(k);
        if (k > kBucketed) {
            auto* buckets = reinterpret_cast<unsigned char*>(&out_[at + 1]);
            size_t r = 0;
            for (unsigned b = 0; b <= 256; ++b) {
                while (r + 1 < k && runs[r + 1].start <= b * 256)
                    ++r;
                const auto v = static_cast<uint16_t>(b == 256 ? k - 1 : r);
                std::memcpy(buckets + 2 * b, &v, sizeof v);
            }
        }
        auto* starts = reinterpret_cast<unsigned char*>(&out_[at + range_starts_at(k)]);
        for (size_t i = 0; i < k; ++i) {
            std::memcpy(starts + 2 * i, &runs[i].start, sizeof runs[i].start);
            out_[at + range_values_at(k) + i] = runs[i].value;
        }
        ++nodes;
        return static_cast<uint32_t>(at);
    }

private:
    struct Run {
        uint16_t start;
        uint32_t value;
    };

    // Appends the runs of the dense node at `off` (`depth` 4-bit levels into the 16-bit one,
    // its first slot at `base`), merging equal neighbours; a child that starts the next 16-bit
    // level is packed first and becomes one run.
    void collect(uint32_t off, unsigned depth, unsigned base, std::vector<Run>& runs) {
        const unsigned below = 4 * (3 - depth); // bits of the 16 left under one slot here
        for (unsigned h = 0; h < 16; ++h) {
            uint32_t s = dense_[off + h];
            const unsigned start = base + (h << below);
            if (s & kChild) {
                if (depth < 3) {
                    collect(s & ~kChild, depth + 1, start, runs);
                    continue;
                }
                s = kChild | pack(s & ~kChild);
            }
            if (runs.empty() || runs.back().value != s)
                runs.push_back({static_cast<uint16_t>(start), s});
        }
    }

    const std::vector<uint32_t>& dense_;
    std::vector<uint32_t>& out_;
};

void PrefixTable::FreeHuge::operator()(void* p) const {
    std::free(p);
}

PrefixTable::PrefixTable() = default;
PrefixTable::~PrefixTable() = default;
PrefixTable::PrefixTable(PrefixTable&& o) noexcept {
    *this = std::move(o);
}

PrefixTable& PrefixTable::operator=(PrefixTable&& o) noexcept {
    if (this != &o) {
        slots_ = std::move(o.slots_);
        slot_count_ = std::exchange(o.slot_count_, 0);
        root_v6_ = std::exchange(o.root_v6_, 0);
        records_ = std::move(o.records_);
        record_count_ = std::exchange(o.record_count_, 0);
        nodes_v4_ = std::exchange(o.nodes_v4_, 0);
        nodes_v6_ = std::exchange(o.nodes_v6_, 0);
    }
    return *this;
}

PrefixTable PrefixTable::build(std::vector<Entry> entries) {
    PrefixTable t;
    // Normalise, dropping what no parse could have produced.
    size_t kept = 0;
    for (Entry& e : entries) {
        const uint8_t f = e.prefix.addr.family;
        if ((f != AF_INET && f != AF_INET6) || e.prefix.bits > max_bits(f)) continue;
        clear_host_bits(e.prefix);
        entries[kept++] = e;
    }
    entries.resize(kept);
    if (entries.size() >= kChild - 1) throw std::length_error("PrefixTable: too many prefixes");

    // Stable, so among duplicates the last given is the last of its run and is the one kept.
    std::stable_sort(entries.begin(), entries.end(), insertion_order);
    kept = 0;
    for (size_t i = 0; i < entries.size(); ++i)
        if (i + 1 == entries.size() || !same_prefix(entries[i].prefix, entries[i + 1].prefix))
            entries[kept++] = entries[i];
    entries.resize(kept);
    if (entries.empty()) return t;

    Builder b;
    // Upper bound for the common case (IPv4 mostly /24 and shorter), so the vector rarely moves.
    b.slots.reserve(2 * kRootSlots + std::min<size_t>(entries.size() / 8, 65536) * 256);
    const uint32_t root_v4 = b.new_node(kRootSlots, 0);
    const uint32_t root_v6 = b.new_node(kRootSlots, 0);
    b.nodes = 0;
    size_t nodes_v4 = 0, v4_end = b.slots.size();
    std::vector<uint32_t> parents(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        const io::IpPrefix& p = entries[i].prefix;
        const U128 a = left_aligned(p.addr);
        const auto value = static_cast<uint32_t>(i + 1);
        if (p.addr.family == AF_INET) {
            parents[i] = b.find(kV4, root_v4, a);
            b.insert(kV4, root_v4, a, p.bits, value);
            nodes_v4 = b.nodes;
            v4_end = b.slots.size();
        } else {
            parents[i] = b.find(kV6, root_v6, a);
            b.insert(kV6, root_v6, a, p.bits, value);
        }
    }

    // The IPv4 trie and both roots as built (IPv4 entries come first, so their nodes precede
    // any IPv6 node), then the IPv6 RangeNodes.
    std::vector<uint32_t> out(b.slots.begin(),
                              b.slots.begin() + static_cast<std::ptrdiff_t>(v4_end));
    RangePacker packer(b.slots, out);
    for (uint32_t r = 0; r < kRootSlots; ++r) {
        const uint32_t s = b.slots[root_v6 + r];
        if (s & kChild) {
            const uint32_t packed = packer.pack(s & ~kChild);
            out[root_v6 + r] = kChild | packed;
        }
    }
    b.slots = {};

    t.slot_count_ = out.size();
    t.slots_.reset(static_cast<uint32_t*>(allocate_huge(t.slot_count_ * sizeof(uint32_t))));
    std::memcpy(t.slots_.get(), out.data(), t.slot_count_ * sizeof(uint32_t));
    t.root_v6_ = root_v6;
    t.record_count_ = entries.size();
    t.records_.reset(static_cast<Record*>(allocate_huge(t.record_count_ * sizeof(Record))));
    for (size_t i = 0; i < entries.size(); ++i)
        new (&t.records_[i]) Record{entries[i], parents[i]};
    t.nodes_v4_ = 1 + nodes_v4;
    t.nodes_v6_ = 1 + packer.nodes;
    return t;
}

const PrefixTable::Entry* PrefixTable::lookup(const io::IpAddress& a) const {
    if (a.family == AF_INET) return lookup_v4(load_be32(a.bytes));
    const uint32_t* slots = slots_.get();
    if (a.family != AF_INET6 || slots == nullptr) return nullptr;
    U128 x = load_be128(a.bytes);
    uint32_t s = slots[root_v6_ + static_cast<uint32_t>(x >> 112)];
    // Shift consumed bits out: the next level's index is always the top 16 bits.
    x <<= 16;
    while (s & kChild) {
        s = range_slot(slots + (s & ~kChild), static_cast<unsigned>(x >> 112));
        x <<= 16;
    }
    return s ? &records_[s - 1].entry : nullptr;
}

size_t PrefixTable::lookup_all(const io::IpAddress& a, const Entry** out, size_t max) const {
    size_t n = 0;
    for (const Entry* e = lookup(a); e != nullptr && n < max; e = parent(e))
        out[n++] = e;
    return n;
}

size_t PrefixTable::memory_bytes() const {
    return sizeof(*this) + slot_count_ * sizeof(uint32_t) + record_count_ * sizeof(Record);
}

} // namespace vcdn::steer
