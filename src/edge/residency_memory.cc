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

namespace vcdn::edge {

// ---- ReclaimWatch

Result<std::unique_ptr<ReclaimWatch>> ReclaimWatch::start(const std::string& vmstat_path,
                                                          uint32_t poll_ms) {
    std::unique_ptr<ReclaimWatch> w(new ReclaimWatch());
    w->fd_ = ::open(vmstat_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (w->fd_ < 0) return Error::from_errno("open " + vmstat_path);
    w->last_ = w->read();
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
// memory (mincore every time). Inode reclaim is left out: it only takes pages of files nobody
// holds open, and a worker's memory is about files its cache holds open (a file opened again
// gets a new serial).
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
    const Reading r = read();
    // Unreadable, something dropped, or fewer file pages than before: forget everything.
    const bool moved =
        !r.ok || !last_.ok || r.dropped != last_.dropped || r.file_pages < last_.file_pages;
    if (moved) {
        gen_.fetch_add(1, std::memory_order_acq_rel);
        changes_.fetch_add(1, std::memory_order_relaxed);
    }
    last_ = r;
    polls_.fetch_add(1, std::memory_order_relaxed);
}

// ---- ResidencyMemory

ResidencyMemory::ResidencyMemory(uint32_t slots, uint32_t ttl_ms) : ttl_ms_(ttl_ms) {
    size_t n = 2; // one set
    while (n < slots && n < (size_t{1} << 24))
        n <<= 1;
    slots_ = n;
}

ResidencyMemory::~ResidencyMemory() {
    if (table_) ::munmap(table_, slots_ * sizeof(Slot));
}

// Two slots per set, one cache line: with one slot per set, the regions of a 2.5 GiB hot set
// hashed into 32,768 slots collided often enough that ~8% of lookups missed for it.
ResidencyMemory::Slot* ResidencyMemory::set_for(uint64_t file, uint64_t region) const {
    static_assert(sizeof(Slot) == 32);
    return &table_[(mix64(file * 0x9e3779b97f4a7c15ULL ^ region) & (slots_ / 2 - 1)) * 2];
}

bool ResidencyMemory::valid(const Slot& s, uint64_t file, uint64_t region, uint32_t gen,
                            int64_t now_ms) const {
    return s.file == file && s.region == region && s.gen == gen && now_ms >= s.since_ms &&
           now_ms - s.since_ms < int64_t{ttl_ms_};
}

bool ResidencyMemory::known(uint64_t file, uint64_t off, uint64_t len, uint32_t gen,
                            int64_t now_ms) const {
    if (!table_ || len == 0) return false;
    const uint64_t first = off / kBlock, last = (off + len - 1) / kBlock;
    for (uint64_t b = first; b <= last;) {
        const uint64_t region = b / kBlocksPerSlot;
        const Slot* set = set_for(file, region);
        const Slot* found = valid(set[0], file, region, gen, now_ms)   ? &set[0]
                            : valid(set[1], file, region, gen, now_ms) ? &set[1]
                                                                       : nullptr;
        if (!found) return false;
        const Slot& s = *found;
        const uint64_t end = std::min(last, region * kBlocksPerSlot + kBlocksPerSlot - 1);
        const unsigned lo = static_cast<unsigned>(b % kBlocksPerSlot);
        const unsigned hi = static_cast<unsigned>(end % kBlocksPerSlot);
        const uint32_t need = ((1u << (hi - lo + 1)) - 1) << lo;
        if ((s.mask & need) != need) return false;
        b = end + 1;
    }
    return true;
}

void ResidencyMemory::remember(uint64_t file, uint64_t block, uint32_t gen, int64_t now_ms) {
    if (file == 0 || map_failed_) return;
    if (!table_) {
        void* p = ::mmap(nullptr, slots_ * sizeof(Slot), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { // no memory: ask the kernel every time
            map_failed_ = true;
            return;
        }
        // Small pages: a table touched in a few places must not cost 2 MiB at a time.
        ::madvise(p, slots_ * sizeof(Slot), MADV_NOHUGEPAGE);
        table_ = static_cast<Slot*>(p); // zero pages: every slot empty
    }
    const uint64_t region = block / kBlocksPerSlot;
    Slot* set = set_for(file, region);
    Slot* s = valid(set[0], file, region, gen, now_ms)   ? &set[0]
              : valid(set[1], file, region, gen, now_ms) ? &set[1]
                                                         : nullptr;
    if (!s) {
        // A slot that trusts nothing any more goes first, else the one started earlier.
        auto spent = [&](const Slot& x) { return !valid(x, x.file, x.region, gen, now_ms); };
        s = spent(set[0])                        ? &set[0]
            : spent(set[1])                      ? &set[1]
            : set[0].since_ms <= set[1].since_ms ? &set[0]
                                                 : &set[1];
        *s = Slot{file, region, now_ms, gen, 0};
    }
    // A slot joined later keeps its first time: its newer blocks are trusted a little less
    // long, never longer.
    s->mask = static_cast<uint16_t>(s->mask | (1u << (block % kBlocksPerSlot)));
}

} // namespace vcdn::edge
