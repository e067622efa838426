// Why a hand-written trie rather than a library or a std::map per prefix length: the lookup is
// on the steering hot path (every client request, every DNS answer), it must run lock-free from
// all cores against ~1.2M prefixes, and the one structure that does that in a few dependent
// loads, a multibit trie with controlled prefix expansion, is ~200 lines. A std::map per length
// costs up to 33 (IPv4) or 129 (IPv6) tree searches; generic radix-tree libraries are either
// mutable with locks (the kernel's fib_trie) or not packaged for Debian.
//
// Layout: all nodes of both families live in one flat uint32 array. A node of stride k is 2^k
// consecutive slots indexed by the next k address bits; a slot holds 0 (no entry), an entry
// index + 1, or kChild | offset of a child node. The IPv4 trie uses strides 16-8-8, so a
// lookup is at most three loads and the 256 KiB root stays in L2. The IPv6 trie uses
// kV6Strides (see there): real IPv6 tables are sparse below /32, where 256-slot nodes would
// hold one useful slot each, so the deep levels use 16-slot (one cache line) nodes.
//
// Build: prefixes are inserted shortest first. A prefix lands in the level where its length
// ends and fills the 2^(level end - length) slots it covers ("controlled prefix expansion");
// it can overwrite only shorter (less specific) prefixes there, and never a child node, since
// a child exists only below a longer prefix, which is inserted later. When a longer prefix has
// to descend through a slot holding an entry, the new child node starts filled with that entry,
// so every slot always holds the most specific entry covering it and a lookup needs no
// backtracking. Looking up a prefix's own address just before inserting it yields the most
// specific shorter prefix covering it: its parent for lookup_all.
#include <vcdn/steer/prefix_table.h>

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

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

// A 16-bit root (IPv6 routes all sit in 2000::/3, so it is 1/8 used but one load), one 8-bit
// level (allocations from the RIRs' /12 blocks are dense at /24), then 4-bit levels: below
// /24 the real table is a sparse scatter of /29-/48 paths, and a 16-slot node is one cache
// line instead of a mostly-empty KiB.
constexpr size_t kV6Levels = 2 + (128 - 24) / 4;
constexpr std::array<uint8_t, kV6Levels> v6_strides() {
    std::array<uint8_t, kV6Levels> s{};
    s[0] = 16;
    s[1] = 8;
    for (size_t i = 2; i < s.size(); ++i)
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
    if (x.prefix.addr.family != y.prefix.addr.family)
        return x.prefix.addr.family < y.prefix.addr.family;
    if (x.prefix.bits != y.prefix.bits) return x.prefix.bits < y.prefix.bits;
    return left_aligned(x.prefix.addr) < left_aligned(y.prefix.addr);
}

// Huge pages: a lookup touches a random slot of a ~100 MB array, so with 4 KiB pages nearly
// every lookup also misses the TLB. THP is commonly in "madvise" mode, hence the explicit ask.
constexpr size_t kHugePage = size_t{2} << 20;

uint32_t* allocate_slots(size_t count) {
    const size_t bytes = count * sizeof(uint32_t);
    const size_t align = bytes >= kHugePage ? kHugePage : 64;
    const size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (p == nullptr) throw std::bad_alloc();
    if (align == kHugePage) (void)madvise(p, rounded, MADV_HUGEPAGE); // a hint; fine if refused
    return static_cast<uint32_t*>(p);
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

void PrefixTable::FreeSlots::operator()(uint32_t* p) const {
    std::free(p);
}

PrefixTable::PrefixTable() = default;
PrefixTable::~PrefixTable() = default;
PrefixTable::PrefixTable(PrefixTable&&) noexcept = default;
PrefixTable& PrefixTable::operator=(PrefixTable&&) noexcept = default;

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
    size_t nodes_after_v4 = 0;
    std::vector<uint32_t> parents(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        const io::IpPrefix& p = entries[i].prefix;
        const U128 a = left_aligned(p.addr);
        const auto value = static_cast<uint32_t>(i + 1);
        if (p.addr.family == AF_INET) {
            parents[i] = b.find(kV4, root_v4, a);
            b.insert(kV4, root_v4, a, p.bits, value);
            nodes_after_v4 = b.nodes;
        } else {
            parents[i] = b.find(kV6, root_v6, a);
            b.insert(kV6, root_v6, a, p.bits, value);
        }
    }

    t.slot_count_ = b.slots.size();
    t.slot_storage_.reset(allocate_slots(t.slot_count_));
    std::memcpy(t.slot_storage_.get(), b.slots.data(), t.slot_count_ * sizeof(uint32_t));
    t.slots_ = t.slot_storage_.get();
    t.root_v6_ = root_v6;
    t.entries_ = std::move(entries);
    t.parents_ = std::move(parents);
    t.nodes_v4_ = 1 + nodes_after_v4;
    t.nodes_v6_ = 1 + b.nodes - nodes_after_v4;
    return t;
}

const PrefixTable::Entry* PrefixTable::lookup(const io::IpAddress& a) const {
    if (a.family == AF_INET) return lookup_v4(load_be32(a.bytes));
    if (a.family != AF_INET6 || slots_ == nullptr) return nullptr;
    U128 x = load_be128(a.bytes);
    uint32_t s = slots_[root_v6_ + static_cast<uint32_t>(x >> 112)];
    // Shift consumed bits out instead of indexing kV6.start: one shift per level.
    x <<= 16;
    for (size_t i = 1; s & kChild; ++i) {
        const unsigned stride = kV6.stride[i];
        s = slots_[(s & ~kChild) + static_cast<uint32_t>(x >> (128 - stride))];
        x <<= stride;
    }
    return s ? &entries_[s - 1] : nullptr;
}

size_t PrefixTable::lookup_all(const io::IpAddress& a, const Entry** out, size_t max) const {
    size_t n = 0;
    for (const Entry* e = lookup(a); e != nullptr && n < max; e = parent(e))
        out[n++] = e;
    return n;
}

size_t PrefixTable::memory_bytes() const {
    return sizeof(*this) + slot_count_ * sizeof(uint32_t) + entries_.capacity() * sizeof(Entry) +
           parents_.capacity() * sizeof(uint32_t);
}

} // namespace vcdn::steer
