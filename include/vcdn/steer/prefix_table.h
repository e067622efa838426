#pragma once
// PrefixTable: longest-prefix match from IPv4 and IPv6 addresses to uint32 values (a PoP, a
// cluster, a policy id), the lookup behind steering a client to a PoP.
//
// Responsibility and threads: built once by the control plane from a full routing table (~1M
// IPv4 + ~200k IPv6 prefixes in well under a second), then immutable. Any number of threads may
// call the const lookups concurrently without locks. On change a new table is built and swapped
// in (typically as a shared_ptr<const PrefixTable>); an Entry pointer returned by a lookup lives
// as long as the table that returned it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include <vcdn/io/ip_prefix.h>

namespace vcdn::steer {

class PrefixTable {
public:
    struct Entry {
        io::IpPrefix prefix;
        uint32_t value;
    };

    // Duplicate prefixes: the last one wins. Host bits are cleared here rather than trusted.
    // Entries that IpPrefix::parse cannot produce (a family other than AF_INET/AF_INET6, more
    // bits than the family has) are caller bugs and are skipped: size() counts what was kept.
    static PrefixTable build(std::vector<Entry> entries);

    PrefixTable(); // empty table: every lookup misses
    ~PrefixTable();
    // Move-only: a full table is ~80 MiB, so a copy is almost certainly an accident. A
    // moved-from table is empty.
    PrefixTable(PrefixTable&&) noexcept;
    PrefixTable& operator=(PrefixTable&&) noexcept;
    PrefixTable(const PrefixTable&) = delete;
    PrefixTable& operator=(const PrefixTable&) = delete;

    // The most specific entry covering `a`, or nullptr (also for an address of no family).
    const Entry* lookup(const io::IpAddress& a) const;
    // The IPv4 hot path: at most three dependent loads, no branches on the table contents
    // beyond "is this slot a child node".
    const Entry* lookup_v4(uint32_t addr_host_order) const {
        const uint32_t* slots = slots_.get();
        if (slots == nullptr) return nullptr;
        uint32_t s = slots[addr_host_order >> 16];
        if (s & kChild) {
            s = slots[(s & ~kChild) + ((addr_host_order >> 8) & 0xff)];
            if (s & kChild) s = slots[(s & ~kChild) + (addr_host_order & 0xff)];
        }
        return s ? &records_[s - 1].entry : nullptr;
    }
    // Every entry covering `a`, most specific first (at most 129: /128 down to /0). Writes at
    // most `max` of them and returns how many it wrote.
    size_t lookup_all(const io::IpAddress& a, const Entry** out, size_t max) const;
    // The entry covering e's whole prefix that is next most specific, or nullptr. `e` must come
    // from this table.
    const Entry* parent(const Entry* e) const {
        // Entry is a Record's first member, and Record is standard-layout.
        const uint32_t p = reinterpret_cast<const Record*>(e)->parent;
        return p ? &records_[p - 1].entry : nullptr;
    }

    size_t size() const { return record_count_; } // distinct prefixes
    size_t memory_bytes() const;                  // approximate footprint
    // Trie nodes by family, for tuning and the benchmark report.
    size_t node_count_v4() const { return nodes_v4_; }
    size_t node_count_v6() const { return nodes_v6_; }

private:
    // A slot is 0 (no entry), an entry index + 1, or kChild | the slot offset of a child node.
    static constexpr uint32_t kChild = 0x80000000u;

    // The parent sits next to its entry so that lookup_all's walk up the chain misses the cache
    // once per entry, not twice.
    struct Record {
        Entry entry;
        uint32_t parent; // index + 1 of the next most specific covering entry, 0 = none
    };
    static_assert(std::is_standard_layout_v<Record>);

    // Frees memory from the huge-page allocation in prefix_table.cc.
    struct FreeHuge {
        void operator()(void* p) const;
    };

    class Builder;
    class RangePacker;

    std::unique_ptr<uint32_t[], FreeHuge> slots_; // null for an empty table
    size_t slot_count_ = 0;
    uint32_t root_v6_ = 0; // slot offset of the IPv6 root (the IPv4 root is at 0)
    std::unique_ptr<Record[], FreeHuge> records_; // by family, then length, then address
    size_t record_count_ = 0;
    size_t nodes_v4_ = 0;
    size_t nodes_v6_ = 0;
};

} // namespace vcdn::steer
