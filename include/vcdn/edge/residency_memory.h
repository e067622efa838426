#pragma once
// Remembering which parts of content files are in the page cache, so that a worker need not
// ask the kernel (mincore, ~0.75 µs for a 100 KiB range, ~10% of the CPU of a hot range)
// before every range of a hot file.
//
// A page the kernel has said is resident stays resident until something takes it out. What
// can: reclaim (kswapd, direct reclaim, a memory cgroup's limit, proactive reclaim), dropping
// the caches (vm.drop_caches), inode reclaim (only of files nobody holds open: not ours), and
// calls that drop a file's pages: truncation, hole punching, deletion, fadvise(DONTNEED). The
// first two are counted by the kernel in /proc/vmstat (pgsteal_file, Linux 5.8+, which counts
// memory cgroups' reclaim too; drop_pagecache); the others lower nr_file_pages, and so do
// pages taken by MADV_PAGEOUT or DAMON, invalidated by FUSE or NFS, or dropped by an O_DIRECT
// write, which no counter names. One thread
// (ReclaimWatch) reads those counters every few milliseconds and moves a generation number
// whenever a counter of the first kind moved or nr_file_pages fell. A worker trusts what it
// remembers only under the generation it was learnt in, and for at most a fixed time.
//
// What this costs: a page taken out between two readings of the counters (a few
// milliseconds, plus up to a second where the kernel folds per-CPU counts late), or by a
// drop of a few pages that pages added at the same moment hide from nr_file_pages, can be
// trusted until the next reading or the time limit: that range's sendfile() then reads
// from the disk in the worker, as disk.mode = "blocking" always does. Under steady reclaim
// (a full page cache with cold reads) the generation moves at nearly every reading and the
// workers ask the kernel every time, as without the memory. A truncated or deleted file is
// never at risk of worse: sendfile() of a cut file returns short, which the edge handles.
//
// Looking again, slot by slot, instead of forgetting. nr_file_pages falls for reasons that
// mostly concern other files: another program deleting or truncating its own, proactive
// reclaim (DAMON here pages out a few thousand idle pages every few seconds, and pgsteal_file
// does not count them), the fill replacing old content. Where the kernel has cachestat(2)
// (Linux 6.5+), such a fall does not move the generation: it moves a second counter
// (suspicions()), and each slot carries the counter's value (its low 16 bits) from when it
// was learnt or last looked at. A slot with an older value is not trusted as it is: the
// worker asking asks cachestat about the span of its remembered blocks (at most 1 MiB, a
// few hundred page-cache entries) and the slot is trusted, and stamped, only if every page of
// it is cached; else the range is asked of mincore and the slot learnt afresh. So a fall costs
// one small cachestat per slot that is asked about again, in place of relearning every slot
// (a mincore of 1 MiB, ~8 times the work), and a file whose other parts were taken out keeps
// the slots that were not. Counters of the first kind (reclaim, drop_caches) still move the
// generation: under steady reclaim they move at nearly every reading, and a look at each slot
// would cost about what the questions it saves cost. What this adds to the risk above:
// cachestat counts a page whose read is still in flight as cached (mincore does not), so a
// remembered block taken out and being read back in (by read-ahead, another process) is
// trusted, and sendfile() waits for that read rather than for a read of its own.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <vcdn/base/result.h>

namespace vcdn::edge {

class ReclaimWatch {
public:
    // Starts the thread reading `vmstat_path` (normally /proc/vmstat) every poll_ms. Fails
    // when the file cannot be read or lacks the counters (nr_file_pages, pgsteal_file,
    // drop_pagecache): the edge then asks the kernel before every range. poll_ms = 0: no
    // thread (tests call poll()).
    // recheck: a fall of nr_file_pages alone moves suspicions(), not the generation (only
    // where the kernel answers cachestat: have_cachestat()).
    static Result<std::unique_ptr<ReclaimWatch>> start(const std::string& vmstat_path,
                                                       uint32_t poll_ms, bool recheck = false);
    ~ReclaimWatch();
    ReclaimWatch(const ReclaimWatch&) = delete;
    ReclaimWatch& operator=(const ReclaimWatch&) = delete;

    // Changes whenever pages may have left the page cache since the last reading. Any thread.
    uint32_t generation() const { return gen_.load(std::memory_order_acquire); }
    // Changes whenever nr_file_pages fell and nothing else moved (recheck only): a slot learnt
    // before is looked at again (cachestat) before it is trusted. Its low 16 bits are the stamp
    // that ResidencyMemory keeps per slot.
    uint64_t suspicions() const { return suspicions_.load(std::memory_order_acquire); }
    uint16_t stamp() const { return static_cast<uint16_t>(suspicions()); }
    bool recheck() const { return recheck_; }
    // Reads the counters once (the thread does this every poll_ms). A file that cannot be read
    // or parsed moves the generation: nothing is known then.
    void poll();
    // Does the generation look long-lived: has it held for kSettledMs, or did the one before
    // it last that long? Learning a whole 1 MiB slot per question (~8 times the kernel's work
    // of asking about a range's own blocks) pays only if the slot is then asked about many
    // times before the generation moves. Under steady reclaim (a full page cache with cold
    // reads) it moves every few readings and the edge asks about ranges; after a move that
    // ended a long generation (DAMON every few seconds, a deleted file) it learns slots.
    bool settled() const { return settled_.load(std::memory_order_relaxed); }
    static constexpr int64_t kSettledMs = 1000;
    // poll() with the time given (tests).
    void poll_at(int64_t now_ms);
    // Readings so far, and those that moved the generation.
    uint64_t polls() const { return polls_.load(std::memory_order_relaxed); }
    uint64_t changes() const { return changes_.load(std::memory_order_relaxed); }

private:
    struct Reading {
        bool ok = false;
        uint64_t dropped = 0; // the sum of the counters of pages taken out
        uint64_t file_pages = 0;
    };
    ReclaimWatch() = default;
    Reading read(); // updates hints_

    // Read by every worker at every residency question and written only when they move: a
    // cache line of their own, apart from what the thread writes at every reading.
    alignas(64) std::atomic<uint32_t> gen_{1};
    std::atomic<uint64_t> suspicions_{0};
    alignas(64) int fd_ = -1;
    size_t hints_[3] = {}; // where each counter's line was last time
    Reading last_;
    int64_t moved_ms_ = 0;                  // when the generation last moved (or the start)
    int64_t prev_lifetime_ms_ = kSettledMs; // how long the generation before it held
    std::atomic<bool> settled_{true};
    bool recheck_ = false;
    std::atomic<uint64_t> polls_{0}, changes_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// The edge's memory of file blocks found resident, shared by its workers: a block one worker
// learnt is trusted by all, so a hot set is learnt once per process, not once per worker
// (with per-worker memories, each of N workers asked the kernel about every slot itself, and
// the share of answers from the kernel grew with N). Fixed size: a table of slots of 1 MiB of
// one file (16 blocks of 64 KiB), two-way set-associative; a region pushed out by two others
// is forgotten (it costs one mincore). The table (32 bytes per MiB of RAM, in 2 MiB pages where
// the kernel has them) is mapped and touched when the edge starts.
//
// Any thread may call known() and remember(). Each slot is a sequence lock: a reader that
// overlaps a writer sees a changed sequence number and answers "not known" (one mincore more),
// never a mix of two slots' fields. A writer that finds the slot being written gives up: the
// block is remembered next time it is asked about. known() writes too, after a look: it stamps
// or empties the slot only if the slot still holds exactly what was looked at.
class ResidencyMemory {
public:
    static constexpr uint64_t kBlock = 64 * 1024;
    static constexpr uint32_t kBlocksPerSlot = 16;
    static constexpr uint64_t kSlotBytes = kBlock * kBlocksPerSlot;

    // slots: rounded up to a power of two, at least 2. ttl_ms: how long a remembered block is
    // trusted (counted from the first block remembered in its slot).
    ResidencyMemory(uint32_t slots, uint32_t ttl_ms);
    ~ResidencyMemory();
    ResidencyMemory(const ResidencyMemory&) = delete;
    ResidencyMemory& operator=(const ResidencyMemory&) = delete;

    // Asks whether the pages of a remembered span of a file (at most one slot) are all in the
    // page cache now (cachestat); false when not, or when it cannot tell.
    using Look = bool (*)(void* ctx, uint64_t off, uint64_t len);

    // Were all blocks that [off, off+len) touches found resident under generation `gen`,
    // less than ttl_ms before now_ms? len > 0. `file` is the file's identity, the same for
    // every worker (FileEntry::identity). A slot whose stamp is not `stamp` (suspicions came
    // since it was learnt) is trusted only if look(ctx, ...) says the span of its remembered
    // blocks is all cached; it is then stamped `stamp`, or else emptied. Without look, such a
    // slot is not trusted. The caller reads gen and stamp before asking, as for remember().
    bool known(uint64_t file, uint64_t off, uint64_t len, uint32_t gen, int64_t now_ms,
               uint16_t stamp = 0, Look look = nullptr, void* ctx = nullptr);
    // Blocks first_block + i, for each bit i set in `blocks`, of `file` were found wholly
    // resident (up to the end of the file, for its last block) by a check that began under
    // `gen`: the caller reads the generation *before* asking the kernel, so that a change in
    // between is never lost. now_ms: any thread's reading of the monotonic clock in ms (a slot
    // started by a thread whose clock is ahead is not trusted by one behind until it catches up).
    void remember(uint64_t file, uint64_t first_block, uint64_t blocks, uint32_t gen,
                  int64_t now_ms, uint16_t stamp = 0);
    void remember(uint64_t file, uint64_t block, uint32_t gen, int64_t now_ms) {
        remember(file, block, 1, gen, now_ms);
    }
    // Starts loading the set that known() reads first for a range from `off`, so that the
    // memory's answer does not wait for it. On loopback, the receiver's copy of every response
    // pushes the table out of the caches between two requests: a profile of the edge (random
    // 100 KiB ranges, c=100) had 1.4% of its CPU on the first load of the slot in known().
    // The caller asks this as soon as it knows the range, and known() after writing the head.
    void prefetch(uint64_t file, uint64_t off) const {
        if (table_) __builtin_prefetch(set_for(file, off / kSlotBytes));
    }

private:
    struct Fields {
        uint64_t file = 0; // 0: empty (identities are never 0)
        int64_t since_ms = 0;
        uint32_t gen = 0;
        uint32_t region = 0;
        uint16_t mask = 0;
        uint16_t stamp = 0;
    };
    struct Slot {
        std::atomic<uint32_t> seq; // odd while a writer changes the slot
        std::atomic<uint32_t> gen;
        std::atomic<uint64_t> file;
        std::atomic<int64_t> since_ms;
        std::atomic<uint32_t> region;
        std::atomic<uint16_t> mask;
        std::atomic<uint16_t> stamp; // ReclaimWatch::stamp() when learnt or last looked at
    };
    Slot* set_for(uint64_t file, uint64_t region) const; // the first of its two slots
    // A consistent copy of the slot, or false when a writer was changing it.
    static bool read(const Slot& s, Fields* out);
    bool valid(const Fields& f, uint64_t file, uint64_t region, uint32_t gen, int64_t now_ms) const;
    void remember_slot(uint64_t file, uint64_t region, uint16_t mask, uint32_t gen, int64_t now_ms,
                       uint16_t stamp);
    // After a look at a slot, if it still holds what was read: stamps it (whole) or empties
    // it (not whole).
    static void settle(Slot& s, const Fields& seen, uint16_t stamp, bool whole);

    static constexpr size_t kHugePage = size_t{2} << 20;
    Slot* table_ = nullptr; // null: no memory for it, nothing is ever known
    size_t slots_;
    size_t map_bytes_ = 0; // the table's mapping, whole huge pages
    uint32_t ttl_ms_;
};

} // namespace vcdn::edge
