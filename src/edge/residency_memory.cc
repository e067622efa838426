#include <vcdn/edge/residency_memory.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <string_view>

#include <vcdn/base/hash.h>
#include <vcdn/base/time.h>

namespace vcdn::edge {

// ---- ReclaimWatch

Result<std::unique_ptr<ReclaimWatch>> ReclaimWatch::start(const std::string& vmstat_path,
                                                          uint32_t poll_ms, bool recheck) {
    std::unique_ptr<ReclaimWatch> w(new ReclaimWatch());
    w->recheck_ = recheck;
    w->fd_ = ::open(vmstat_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (w->fd_ < 0) return Error::from_errno("open " + vmstat_path);
    w->last_ = w->read();
    w->moved_ms_ = monotonic_ms(); // as if the generation before lasted long: settled
    if (!w->last_.ok)
        return Error{vmstat_path + ": no nr_file_pages, pgsteal_file (Linux 5.8+) and "
                                   "drop_pagecache counters to watch"};
    if (poll_ms > 0) {
        ReclaimWatch* raw = w.get();
        raw->thread_ = std::thread([raw, poll_ms] {
            ::pthread_setname_np(::pthread_self(), "vcdn-reclaim");
            while (!raw->stop_.load(std::memory_order_relaxed)) {
                std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
                raw->poll();
            }
        });
    }
    return w;
}

ReclaimWatch::~ReclaimWatch() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
}

namespace {

// The counters read, each with the space after its name, all required. pgsteal_file (Linux
// 5.8+) counts the file pages every kind of reclaim took, memory cgroups' included; before it,
// pgsteal_kswapd and pgsteal_direct left out a cgroup's reclaim, so those kernels get no
// memory (mincore every time). Inode reclaim (of files no worker holds open) is not counted
// apart: the pages it frees lower nr_file_pages, as a deletion's do.
constexpr std::string_view kCounterNames[] = {"nr_file_pages ", "pgsteal_file ", "drop_pagecache "};
constexpr size_t kCounters = std::size(kCounterNames);

bool line_at(std::string_view text, size_t p, std::string_view name) {
    return p + name.size() <= text.size() && (p == 0 || text[p - 1] == '\n') &&
           text.compare(p, name.size(), name) == 0;
}

// Where the line `name` starts, or npos. The lines never change order, but the numbers before
// one change width: it is looked for where it was last time, then a few lines either way,
// then everywhere. Scanning all ~180 lines on every reading cost more user-space work than the
// rest of the edge's timers together.
size_t find_line(std::string_view text, std::string_view name, size_t hint) {
    if (line_at(text, hint, name)) return hint;
    size_t p = hint > 160 ? hint - 160 : 0;
    for (int pass = 0; pass < 2; ++pass) {
        const size_t stop = pass == 0 ? std::min(text.size(), hint + 160) : text.size();
        if (p > 0) { // to the start of the next line
            p = text.find('\n', p - 1);
            p = p == std::string_view::npos ? stop : p + 1;
        }
        while (p < stop) {
            if (line_at(text, p, name)) return p;
            p = text.find('\n', p);
            if (p == std::string_view::npos) break;
            ++p;
        }
        p = 0;
    }
    return std::string_view::npos;
}

bool value_at(std::string_view text, size_t p, std::string_view name, uint64_t* v) {
    const char* b = text.data() + p + name.size();
    return std::from_chars(b, text.data() + text.size(), *v).ec == std::errc();
}

} // namespace

// /proc/vmstat is ~180 lines of "name value"; reading it costs ~4 µs of kernel time here.
ReclaimWatch::Reading ReclaimWatch::read() {
    Reading r;
    char buf[16384];
    size_t have = 0;
    for (;;) {
        const ssize_t n = ::pread(fd_, buf + have, sizeof buf - have, static_cast<off_t>(have));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return r;
        if (n == 0) break;
        have += static_cast<size_t>(n);
        if (have == sizeof buf) return r; // larger than any vmstat: not what we expect
    }
    const std::string_view text(buf, have);
    static_assert(sizeof hints_ / sizeof hints_[0] == kCounters);
    uint64_t v[kCounters] = {};
    for (size_t i = 0; i < kCounters; ++i) {
        const size_t p = find_line(text, kCounterNames[i], hints_[i]);
        if (p == std::string_view::npos || !value_at(text, p, kCounterNames[i], &v[i])) return r;
        hints_[i] = p;
    }
    r.file_pages = v[0];
    r.dropped = v[1] + v[2];
    r.ok = true;
    return r;
}

void ReclaimWatch::poll() {
    poll_at(monotonic_ms());
}

void ReclaimWatch::poll_at(int64_t now_ms) {
    const Reading r = read();
    // Unreadable, something dropped, or fewer file pages than before: forget everything. With
    // recheck, fewer file pages alone is a suspicion: each slot is looked at again.
    const bool fell = r.ok && last_.ok && r.file_pages < last_.file_pages;
    const bool suspect = fell && recheck_ && r.dropped == last_.dropped;
    // Slots keep the low 16 bits of the suspicions (stamp()): when they wrap, everything is
    // forgotten, so that a slot stamped 65,536 suspicions ago (at least 11 minutes at one per
    // reading; a residency_memory_ms that long is allowed) never passes for a current one. The
    // generation moves first: a worker reads the stamp before the generation, so one that
    // sees the wrapped stamp sees the new generation too.
    const bool wraps = suspect && ((suspicions_.load(std::memory_order_relaxed) + 1) & 0xffff) == 0;
    const bool moved =
        !r.ok || !last_.ok || r.dropped != last_.dropped || (fell && !recheck_) || wraps;
    if (moved) {
        gen_.fetch_add(1, std::memory_order_acq_rel);
        changes_.fetch_add(1, std::memory_order_relaxed);
        prev_lifetime_ms_ = now_ms - moved_ms_;
        moved_ms_ = now_ms;
    }
    if (suspect) suspicions_.fetch_add(1, std::memory_order_release);
    settled_.store(prev_lifetime_ms_ >= kSettledMs || now_ms - moved_ms_ >= kSettledMs,
                   std::memory_order_relaxed);
    last_ = r;
    polls_.fetch_add(1, std::memory_order_relaxed);
}

// ---- ResidencyMemory

ResidencyMemory::ResidencyMemory(uint32_t slots, uint32_t ttl_ms) : ttl_ms_(ttl_ms) {
    size_t n = 2; // one set
    while (n < slots && n < (size_t{1} << 24))
        n <<= 1;
    slots_ = n;
    // In 2 MiB pages, mapped at once. Each lookup lands on a random slot; with 4 KiB pages
    // nearly every one also missed the TLB (a page walk, dearer still in a virtual machine):
    // in a profile of the edge, 80% of the cost of starting to load the slot (prefetch) was
    // at that one instruction. The table is 1 MiB per 32 GiB of RAM; rounding it up to 2 MiB
    // costs at most 2 MiB once. Where transparent huge pages are off, small pages do the same
    // job a little slower.
    map_bytes_ = (slots_ * sizeof(Slot) + kHugePage - 1) / kHugePage * kHugePage;
    const size_t over = map_bytes_ + kHugePage; // room to align the start to a huge page
    void* p = ::mmap(nullptr, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return; // no memory: ask the kernel every time
    const uintptr_t start = reinterpret_cast<uintptr_t>(p);
    const uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > start) ::munmap(p, aligned - start);
    if (start + over > aligned + map_bytes_)
        ::munmap(reinterpret_cast<void*>(aligned + map_bytes_),
                 start + over - aligned - map_bytes_);
    ::madvise(reinterpret_cast<void*>(aligned), map_bytes_, MADV_HUGEPAGE);
    // Touched now, not on some request's first lookup (a huge page's fault can compact memory).
    // Zero bytes are empty slots.
    auto* bytes = reinterpret_cast<volatile unsigned char*>(aligned);
    for (size_t i = 0; i < map_bytes_; i += 4096)
        bytes[i] = 0;
    table_ = reinterpret_cast<Slot*>(aligned);
}

ResidencyMemory::~ResidencyMemory() {
    if (table_) ::munmap(table_, map_bytes_);
}

// Two slots per set, one cache line: with one slot per set, the regions of a 2.5 GiB hot set
// hashed into 32,768 slots collided often enough that ~8% of lookups missed for it.
ResidencyMemory::Slot* ResidencyMemory::set_for(uint64_t file, uint64_t region) const {
    static_assert(sizeof(Slot) == 32);
    static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint16_t>::is_always_lock_free);
    return &table_[(mix64(file * 0x9e3779b97f4a7c15ULL ^ region) & (slots_ / 2 - 1)) * 2];
}

bool ResidencyMemory::read(const Slot& s, Fields* out) {
    const uint32_t seq = s.seq.load(std::memory_order_acquire);
    if (seq & 1) return false;
    out->file = s.file.load(std::memory_order_relaxed);
    out->since_ms = s.since_ms.load(std::memory_order_relaxed);
    out->gen = s.gen.load(std::memory_order_relaxed);
    out->region = s.region.load(std::memory_order_relaxed);
    out->mask = s.mask.load(std::memory_order_relaxed);
    out->stamp = s.stamp.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    return s.seq.load(std::memory_order_relaxed) == seq;
}

bool ResidencyMemory::valid(const Fields& f, uint64_t file, uint64_t region, uint32_t gen,
                            int64_t now_ms) const {
    return f.file == file && f.region == region && f.gen == gen && now_ms >= f.since_ms &&
           now_ms - f.since_ms < int64_t{ttl_ms_};
}

bool ResidencyMemory::known(uint64_t file, uint64_t off, uint64_t len, uint32_t gen, int64_t now_ms,
                            uint16_t stamp, Look look, void* ctx) {
    if (!table_ || len == 0 || file == 0) return false;
    const uint64_t first = off / kBlock, last = (off + len - 1) / kBlock;
    if (last / kBlocksPerSlot > UINT32_MAX) return false;
    for (uint64_t b = first; b <= last;) {
        const uint64_t region = b / kBlocksPerSlot;
        Slot* set = set_for(file, region);
        Fields s;
        int i = 0;
        if (!(read(set[0], &s) && valid(s, file, region, gen, now_ms))) {
            i = 1;
            if (!(read(set[1], &s) && valid(s, file, region, gen, now_ms))) return false;
        }
        const uint64_t end = std::min(last, region * kBlocksPerSlot + kBlocksPerSlot - 1);
        const unsigned lo = static_cast<unsigned>(b % kBlocksPerSlot);
        const unsigned hi = static_cast<unsigned>(end % kBlocksPerSlot);
        const uint32_t need = ((1u << (hi - lo + 1)) - 1) << lo;
        if ((s.mask & need) != need) return false;
        if (s.stamp != stamp) {
            // Pages left the page cache since the slot was learnt, maybe some of these: the
            // span of all its remembered blocks is looked at, so that one look serves every
            // later range of the slot. A slot found not whole is emptied: the ranges asked
            // about next go to mincore without looking again, and learn it afresh.
            if (!look || s.mask == 0) return false;
            const unsigned first_bit = static_cast<unsigned>(__builtin_ctz(s.mask));
            const unsigned last_bit = 31u - static_cast<unsigned>(__builtin_clz(s.mask));
            const uint64_t span_off = (region * kBlocksPerSlot + first_bit) * kBlock;
            const bool whole = look(ctx, span_off, uint64_t{last_bit - first_bit + 1} * kBlock);
            settle(set[i], s, stamp, whole);
            if (!whole) return false;
        }
        b = end + 1;
    }
    return true;
}

void ResidencyMemory::settle(Slot& s, const Fields& seen, uint16_t stamp, bool whole) {
    uint32_t seq = s.seq.load(std::memory_order_relaxed);
    if ((seq & 1) || !s.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire,
                                                    std::memory_order_relaxed))
        return; // another writer: the slot is looked at again next time
    std::atomic_thread_fence(std::memory_order_release);
    // Only the slot that was looked at: same file, region, start, generation and blocks.
    if (s.file.load(std::memory_order_relaxed) == seen.file &&
        s.region.load(std::memory_order_relaxed) == seen.region &&
        s.since_ms.load(std::memory_order_relaxed) == seen.since_ms &&
        s.gen.load(std::memory_order_relaxed) == seen.gen &&
        s.mask.load(std::memory_order_relaxed) == seen.mask &&
        s.stamp.load(std::memory_order_relaxed) == seen.stamp) {
        if (whole)
            s.stamp.store(stamp, std::memory_order_relaxed);
        else
            s.mask.store(0, std::memory_order_relaxed);
    }
    s.seq.store(seq + 2, std::memory_order_release);
}

void ResidencyMemory::remember(uint64_t file, uint64_t first_block, uint64_t blocks, uint32_t gen,
                               int64_t now_ms, uint16_t stamp) {
    if (!table_ || file == 0) return;
    while (blocks != 0) {
        const unsigned skip = static_cast<unsigned>(__builtin_ctzll(blocks));
        first_block += skip;
        blocks >>= skip;
        const uint64_t region = first_block / kBlocksPerSlot;
        const unsigned lo = static_cast<unsigned>(first_block % kBlocksPerSlot);
        const unsigned n = kBlocksPerSlot - lo; // blocks left in this slot, 1..16
        const uint64_t here = blocks & ((uint64_t{1} << n) - 1);
        if (region > UINT32_MAX) return;
        remember_slot(file, region, static_cast<uint16_t>(here << lo), gen, now_ms, stamp);
        first_block += n;
        blocks >>= n;
    }
}

void ResidencyMemory::remember_slot(uint64_t file, uint64_t region, uint16_t mask, uint32_t gen,
                                    int64_t now_ms, uint16_t stamp) {
    Slot* set = set_for(file, region);
    Fields f[2];
    const bool ok0 = read(set[0], &f[0]), ok1 = read(set[1], &f[1]);
    // Only a slot of this stamp is joined: the blocks of an older one were not looked at since
    // the last suspicion, and are dropped with it.
    auto current = [&](int i) {
        return valid(f[i], file, region, gen, now_ms) && f[i].stamp == stamp;
    };
    auto mine = [&](int i) { return f[i].file == file && f[i].region == region; };
    int pick = ok0 && current(0)   ? 0
               : ok1 && current(1) ? 1
               : ok0 && mine(0)    ? 0 // this region's older slot is replaced, not duplicated
               : ok1 && mine(1)    ? 1
                                   : -1;
    const bool join = pick >= 0 && current(pick);
    if (pick < 0) {
        // A slot that trusts nothing any more goes first, else the one started earlier.
        auto spent = [&](int i) { return !valid(f[i], f[i].file, f[i].region, gen, now_ms); };
        pick = !ok0 || !ok1                     ? -1 // a writer is at work in this set: leave it be
               : spent(0)                       ? 0
               : spent(1)                       ? 1
               : f[0].since_ms <= f[1].since_ms ? 0
                                                : 1;
        if (pick < 0) return;
    }
    Slot& s = set[pick];
    // Take the slot's lock; it must still hold what was read, or another writer got there
    // first (this block is remembered next time).
    uint32_t seq = s.seq.load(std::memory_order_relaxed);
    if ((seq & 1) || !s.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire,
                                                    std::memory_order_relaxed))
        return;
    std::atomic_thread_fence(std::memory_order_release);
    Fields now;
    now.file = s.file.load(std::memory_order_relaxed);
    now.since_ms = s.since_ms.load(std::memory_order_relaxed);
    now.gen = s.gen.load(std::memory_order_relaxed);
    now.region = s.region.load(std::memory_order_relaxed);
    now.stamp = s.stamp.load(std::memory_order_relaxed);
    if (join && valid(now, file, region, gen, now_ms) && now.stamp == stamp) {
        // A slot joined later keeps its first time: its newer blocks are trusted a little less
        // long, never longer.
        s.mask.store(static_cast<uint16_t>(s.mask.load(std::memory_order_relaxed) | mask),
                     std::memory_order_relaxed);
    } else {
        s.file.store(file, std::memory_order_relaxed);
        s.region.store(static_cast<uint32_t>(region), std::memory_order_relaxed);
        s.since_ms.store(now_ms, std::memory_order_relaxed);
        s.gen.store(gen, std::memory_order_relaxed);
        s.mask.store(mask, std::memory_order_relaxed);
        s.stamp.store(stamp, std::memory_order_relaxed);
    }
    s.seq.store(seq + 2, std::memory_order_release);
}

} // namespace vcdn::edge
