#include <vcdn/edge/disk_io.h>

#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fmt/format.h>
#include <mutex>
#include <thread>
#include <vector>

#include <vcdn/base/log.h>
#include <vcdn/base/unique_fd.h>

namespace vcdn::edge {

namespace {

constexpr uint64_t kPage = 4096;

// Are the pages vec[from, to) of a mincore answer all resident (bit 0)? Eight at a time: a
// whole slot's answer is 256 bytes, scanned on every question the residency memory cannot
// answer.
bool all_resident(const unsigned char* vec, size_t from, size_t to) {
    constexpr uint64_t kBits = 0x0101010101010101ULL;
    size_t i = from;
    for (; i + 8 <= to; i += 8) {
        uint64_t w;
        std::memcpy(&w, vec + i, 8);
        if ((w & kBits) != kBits) return false;
    }
    for (; i < to; ++i)
        if (!(vec[i] & 1)) return false;
    return true;
}

int mincore_resident(const void* map, uint64_t off, uint64_t len) {
    if (!map) return -EINVAL;
    const uint64_t first = off / kPage * kPage;
    const uint64_t span = off + len - first;
    const size_t pages = static_cast<size_t>((span + kPage - 1) / kPage);
    unsigned char vec[1024];
    size_t done = 0;
    while (done < pages) {
        size_t n = std::min(pages - done, sizeof vec);
        const char* addr = static_cast<const char*>(map) + first + done * kPage;
        if (::mincore(const_cast<char*>(addr), n * kPage, vec) != 0) return -errno;
        if (!all_resident(vec, 0, n)) return 0;
        done += n;
    }
    return 1;
}

// ---- io_uring: buffered reads that the kernel completes asynchronously (or in its own
// worker threads), never in ours.
class UringReader final : public AsyncReader {
public:
    ~UringReader() override {
        if (ready_) io_uring_queue_exit(&ring_);
    }
    static Result<std::unique_ptr<AsyncReader>> make(unsigned depth, size_t sink_bytes) {
        std::unique_ptr<UringReader> r(new UringReader());
        int rc = io_uring_queue_init(std::max(8u, depth), &r->ring_, 0);
        if (rc < 0) return Error::from_errno("io_uring_queue_init", -rc);
        r->ready_ = true;
        r->efd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!r->efd_) return Error::from_errno("eventfd");
        rc = io_uring_register_eventfd(&r->ring_, r->efd_.get());
        if (rc < 0) return Error::from_errno("io_uring_register_eventfd", -rc);
        r->sink_.resize(sink_bytes);
        return std::unique_ptr<AsyncReader>(std::move(r));
    }
    Kind kind() const override { return Kind::kIoUring; }
    int event_fd() const override { return efd_.get(); }
    bool submit(int fd, uint64_t off, uint32_t len, uint64_t token) override {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (!sqe) return false;
        // Every read lands in the same sink: its bytes are never looked at, only the page
        // cache it fills.
        io_uring_prep_read(sqe, fd, sink_.data(),
                           std::min<uint32_t>(len, static_cast<uint32_t>(sink_.size())), off);
        io_uring_sqe_set_data64(sqe, token);
        // IOSQE_ASYNC: straight to the kernel's io-wq workers. Without it io_uring first tries
        // the read inline on this thread with IOCB_NOWAIT, and some file systems still block
        // there (FUSE asks its daemon for attributes first: measured, a worker stalled for
        // milliseconds behind a busy daemon).
        sqe->flags |= IOSQE_ASYNC;
        return io_uring_submit(&ring_) >= 1;
    }
    size_t reap(Completion* out, size_t max) override {
        uint64_t v;
        (void)!::read(efd_.get(), &v, sizeof v);
        size_t n = 0;
        io_uring_cqe* cqe = nullptr;
        while (n < max && io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe) {
            out[n].token = io_uring_cqe_get_data64(cqe);
            out[n].result = cqe->res;
            ++n;
            io_uring_cqe_seen(&ring_, cqe);
        }
        if (n == max) {
            // More may be waiting: make sure the event fd fires again.
            uint64_t one = 1;
            (void)!::write(efd_.get(), &one, sizeof one);
        }
        return n;
    }

private:
    UringReader() = default;
    io_uring ring_{};
    bool ready_ = false;
    UniqueFd efd_;
    std::vector<char> sink_;
};

// ---- helper threads: the portable fallback (io_uring disabled by sysctl or seccomp).
class ThreadReader final : public AsyncReader {
public:
    ThreadReader(unsigned depth, size_t sink_bytes)
        // Threads block in pread on behalf of the worker; a few suffice per worker.
        : pool_(std::max(2u, std::min(depth, 16u)), depth), sink_bytes_(sink_bytes) {}
    Kind kind() const override { return Kind::kThreads; }
    int event_fd() const override { return pool_.event_fd(); }
    bool submit(int fd, uint64_t off, uint32_t len, uint64_t token) override {
        const size_t sink_bytes = sink_bytes_;
        return pool_.submit(token, [fd, off, len, sink_bytes]() -> int64_t {
            thread_local std::vector<char> sink;
            sink.resize(sink_bytes);
            const uint32_t want = std::min<uint32_t>(len, static_cast<uint32_t>(sink.size()));
            int64_t total = 0;
            while (total < want) {
                ssize_t n = ::pread(fd, sink.data(), want - static_cast<uint32_t>(total),
                                    static_cast<off_t>(off + static_cast<uint64_t>(total)));
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return -errno;
                if (n == 0) break;
                total += n;
            }
            return total;
        });
    }
    size_t reap(Completion* out, size_t max) override { return pool_.reap(out, max); }

private:
    BlockingPool pool_;
    size_t sink_bytes_;
};

// ---- the "sendfile" reader (SpliceReader, below): helper threads splice each range to
// /dev/null. The pages come into the page cache as a read would bring them (read-ahead
// included), but no byte is copied to user memory — the copy a read into a throw-away buffer
// makes. The file is spliced into a pipe of this thread's (page references, no copy) and the
// pipe into /dev/null, which drops them. The pipe is enlarged to a whole range where the
// system allows it: sendfile()'s own pipe holds 16 pages, which cut a 100 KiB range into two
// disk waits, one after the other.
int64_t splice_to_null(int fd, uint64_t off, uint32_t len, int null) {
    struct Pipe {
        int r = -1, w = -1;
        size_t cap = 0;
        Pipe() {
            int p[2];
            if (::pipe2(p, O_CLOEXEC) != 0) return;
            r = p[0];
            w = p[1];
            const int got = ::fcntl(w, F_SETPIPE_SZ, 1 << 20);
            cap = got > 0 ? static_cast<size_t>(got) : 65536;
        }
        ~Pipe() {
            if (r >= 0) ::close(r);
            if (w >= 0) ::close(w);
        }
    };
    thread_local Pipe pipe;
    if (pipe.w < 0) return -EMFILE;
    loff_t pos = static_cast<loff_t>(off);
    int64_t total = 0;
    while (total < len) {
        const size_t want = std::min<size_t>(len - static_cast<uint32_t>(total), pipe.cap);
        const ssize_t n = ::splice(fd, &pos, pipe.w, nullptr, want, SPLICE_F_MOVE);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -errno;
        if (n == 0) break; // end of file
        for (ssize_t left = n; left > 0;) {
            const ssize_t m =
                ::splice(pipe.r, nullptr, null, nullptr, static_cast<size_t>(left), SPLICE_F_MOVE);
            if (m < 0 && errno == EINTR) continue;
            if (m <= 0) return m < 0 ? -errno : -EIO; // the pipe would hold stale pages
            left -= m;
        }
        total += n;
    }
    return total;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 // Linux 5.14
#endif

// ---- the "populate" reader (SpliceReader with blocks): whole 2 MiB blocks brought in as single
// large pages of the page cache (folios). A read or a splice at a random offset is a "small random
// read" to the kernel's read-ahead and fills the cache page by page (4 KiB each: allocated,
// inserted, put on the LRU, later evicted one by one); the kernel builds large folios only for
// reads it sees as sequential, and a shared descriptor read by many streams at once never looks
// sequential. A fault in a mapping marked MADV_HUGEPAGE reads the aligned 2 MiB around it as one
// folio where the file system has large folios (XFS; ext4 since Linux 6.16). So a block is mapped,
// marked, populated (MADV_POPULATE_READ: the faults, without touching a byte) and unmapped
// again: the edge's page tables keep nothing, and the page cache evicts the folio as it would
// any page. Measured here (bench/fill_cost, a cold 1 GiB in 2 MiB blocks in random order, ext4
// on Linux 6.18): 0.03 CPU-s per GB in the populating thread, against 0.08 for the same splices
// to /dev/null, 0.30 for preads and 0.21-0.25 for the populate without the mark. Where the file
// system has no large folios the populate should cost about the latter, more than a splice
// (inferred): so this reader is opt-in.
// A range that is not whole aligned blocks is spliced as the sendfile reader does: a viewer's
// own miss (widening it would read ~20x the bytes of a random 100 KiB range, and the viewer
// would wait for them), and the head of a read-ahead window. The worker's read-ahead asks for
// whole blocks after that head (block_bytes()); a viewer's chunk that happens to be a whole
// aligned block is populated too.
class SpliceReader final : public AsyncReader {
public:
    static constexpr unsigned kMaxThreads = 32;
    // `blocks`: the populate reader; otherwise the sendfile reader (every range spliced).
    static Result<std::unique_ptr<AsyncReader>> make(unsigned depth, bool blocks) {
        UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
        if (!null) return Error::from_errno("/dev/null");
        return std::unique_ptr<AsyncReader>(new SpliceReader(depth, std::move(null), blocks));
    }
    Kind kind() const override { return blocks_ ? Kind::kPopulate : Kind::kSendfile; }
    uint64_t block_bytes() const override { return blocks_ ? kPopulateBlock : 0; }
    uint64_t blocks_populated() const override { return populated_.load(); }
    bool blocks_refused() const override { return refused_.load(); }
    int event_fd() const override { return pool_.event_fd(); }
    bool submit(int fd, uint64_t off, uint32_t len, uint64_t token) override {
        const int null = null_.get();
        return pool_.submit(token, [this, fd, off, len, null] {
            if (blocks_ && !refused_.load(std::memory_order_relaxed) &&
                whole_blocks(fd, off, len)) {
                const int64_t r = populate(fd, off, len);
                if (r >= 0) {
                    populated_.fetch_add(1, std::memory_order_relaxed);
                    return r;
                }
            }
            // Not whole blocks, or the mapping failed (past the end of a file that shrank, a
            // disk error: both end as EFAULT): the splice says what the bytes are.
            return splice_to_null(fd, off, len, null);
        });
    }
    size_t reap(Completion* out, size_t max) override { return pool_.reap(out, max); }

private:
    // Whole aligned blocks, the last one possibly cut by the end of the file. Anything else
    // (a viewer's own range, the head of a read-ahead window) is read exactly: a fault would
    // read the whole block around it, and whoever waits for the range would wait for that.
    static bool whole_blocks(int fd, uint64_t off, uint32_t len) {
        if (off % kPopulateBlock != 0 || len == 0) return false;
        if (len % kPopulateBlock == 0) return true;
        struct stat st {};
        return ::fstat(fd, &st) == 0 && off + len >= static_cast<uint64_t>(st.st_size);
    }
    int64_t populate(int fd, uint64_t off, uint32_t len) {
        void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(off));
        if (m == MAP_FAILED) return -errno;
        // A kernel without transparent huge pages refuses the mark, and one before 5.14 the
        // populate (both EINVAL): faults would read small pages one by one, dearer than the
        // splice (above). Then every block is spliced from now on, and the log says so once.
        int rc = ::madvise(m, len, MADV_HUGEPAGE) == 0 ? 0 : -errno;
        if (rc == 0) {
            (void)::madvise(m, len, MADV_RANDOM); // one block per fault, not the kernel's two
            rc = ::madvise(m, len, MADV_POPULATE_READ) == 0 ? 0 : -errno;
        }
        ::munmap(m, len);
        if (rc == -EINVAL && !refused_.exchange(true))
            log::warn("disk reader populate: this kernel refuses MADV_HUGEPAGE or "
                      "MADV_POPULATE_READ; read-ahead blocks are spliced instead");
        return rc == 0 ? int64_t{len} : rc;
    }
    SpliceReader(unsigned depth, UniqueFd null, bool blocks)
        : blocks_(blocks), null_(std::move(null)),
          pool_(std::max(2u, std::min(depth, kMaxThreads)), depth) {}
    const bool blocks_;
    UniqueFd null_;
    std::atomic<uint64_t> populated_{0};
    std::atomic<bool> refused_{false};
    // Last, so destroyed first: its threads, whose jobs use the members above, are joined
    // before those go (a job still running would otherwise splice into whatever took
    // /dev/null's descriptor number).
    BlockingPool pool_;
};

} // namespace

int pages_resident(const void* map, uint64_t file_size, uint64_t off, uint64_t len) {
    if (off >= file_size || len == 0) return 1;
    return mincore_resident(map, off, std::min(len, file_size - off));
}

int pages_resident_blocks(const void* map, uint64_t file_size, uint64_t off, uint64_t len,
                          uint64_t block_bytes, uint64_t widen_bytes, uint64_t* blocks) {
    *blocks = 0;
    if (off >= file_size || len == 0) return 1;
    if (!map) return -EINVAL;
    len = std::min(len, file_size - off);
    if (block_bytes == 0 || block_bytes % kPage != 0) return mincore_resident(map, off, len);
    if (widen_bytes < block_bytes || widen_bytes % block_bytes != 0) widen_bytes = block_bytes;
    const uint64_t start = off / widen_bytes * widen_bytes;
    const uint64_t end =
        std::min((off + len - 1) / widen_bytes * widen_bytes + widen_bytes, file_size);
    const uint64_t nblocks = (end - start + block_bytes - 1) / block_bytes;
    constexpr size_t kMaxPages = 1024;
    if (nblocks > 64 || nblocks * (block_bytes / kPage) > kMaxPages)
        return mincore_resident(map, off, len);
    const size_t pages = static_cast<size_t>((end - start + kPage - 1) / kPage);
    unsigned char vec[kMaxPages];
    if (::mincore(const_cast<char*>(static_cast<const char*>(map) + start), pages * kPage, vec) !=
        0)
        return -errno;
    const size_t per_block = static_cast<size_t>(block_bytes / kPage);
    for (uint64_t b = 0; b < nblocks; ++b)
        if (all_resident(vec, b * per_block, std::min(pages, (b + 1) * per_block)))
            *blocks |= uint64_t{1} << b;
    const size_t want_first = static_cast<size_t>((off - start) / kPage);
    const size_t want_last = static_cast<size_t>((off + len - 1 - start) / kPage);
    return all_resident(vec, want_first, want_last + 1) ? 1 : 0;
}

namespace {
// Debian 12's headers (Linux 6.1) have neither the number nor the structures. 451 is
// cachestat's number on every architecture (the common table, Linux 6.5).
constexpr long kSysCachestat = 451;
struct CachestatRange {
    uint64_t off, len;
};
struct Cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};
} // namespace

int file_pages(int fd, uint64_t off, uint64_t len, FilePages* out) {
    CachestatRange range{off, len};
    Cachestat cs{};
    if (::syscall(kSysCachestat, fd, &range, &cs, 0) != 0) return -errno;
    out->cached = cs.nr_cache;
    return 0;
}

bool have_cachestat() {
    CachestatRange range{0, 0};
    Cachestat cs{};
    // EBADF: the call exists and looked at the descriptor; ENOSYS or EPERM: it cannot be used.
    return ::syscall(kSysCachestat, -1, &range, &cs, 0) != 0 && errno == EBADF;
}

Result<std::unique_ptr<AsyncReader>> AsyncReader::create(const std::string& configured,
                                                         unsigned depth, size_t sink_bytes) {
    if (configured == "threads")
        return std::unique_ptr<AsyncReader>(new ThreadReader(depth, sink_bytes));
    if (configured == "sendfile") return SpliceReader::make(depth, false);
    if (configured == "populate") return SpliceReader::make(depth, true);
    if (configured == "io_uring" || configured == "auto") {
        auto r = UringReader::make(depth, sink_bytes);
        if (r || configured == "io_uring") return r;
        // io_uring can be disabled (kernel.io_uring_disabled, seccomp): fall back quietly.
        return std::unique_ptr<AsyncReader>(new ThreadReader(depth, sink_bytes));
    }
    return Error{fmt::format("disk.reader '{}': use auto, io_uring, threads, sendfile or populate",
                             configured)};
}

BlockingPool::BlockingPool(unsigned threads, unsigned max_pending) : max_pending_(max_pending) {
    efd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    for (unsigned i = 0; i < threads; ++i)
        threads_.emplace_back([this] { run(); });
}

BlockingPool::~BlockingPool() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        t.join();
    if (efd_ >= 0) ::close(efd_);
}

bool BlockingPool::submit(uint64_t token, std::function<int64_t()> job) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (jobs_.size() + busy_ >= max_pending_) return false;
        jobs_.emplace_back(token, std::move(job));
    }
    cv_.notify_one();
    return true;
}

size_t BlockingPool::reap(AsyncReader::Completion* out, size_t max) {
    uint64_t v;
    (void)!::read(efd_, &v, sizeof v);
    std::lock_guard<std::mutex> lk(mu_);
    size_t n = std::min(max, done_.size());
    for (size_t i = 0; i < n; ++i)
        out[i] = done_[i];
    done_.erase(done_.begin(), done_.begin() + static_cast<long>(n));
    if (!done_.empty()) {
        uint64_t one = 1;
        (void)!::write(efd_, &one, sizeof one);
    }
    return n;
}

void BlockingPool::run() {
    for (;;) {
        std::pair<uint64_t, std::function<int64_t()>> job;
        {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [this] { return stop_ || !jobs_.empty(); });
            if (stop_) return;
            job = std::move(jobs_.front());
            jobs_.pop_front();
            ++busy_;
        }
        const int64_t result = job.second();
        {
            std::lock_guard<std::mutex> lk(mu_);
            --busy_;
            done_.push_back(AsyncReader::Completion{job.first, result});
        }
        uint64_t one = 1;
        (void)!::write(efd_, &one, sizeof one);
    }
}

const char* reader_name(AsyncReader::Kind k) {
    switch (k) {
    case AsyncReader::Kind::kIoUring:
        return "io_uring";
    case AsyncReader::Kind::kThreads:
        return "threads";
    case AsyncReader::Kind::kSendfile:
        return "sendfile";
    case AsyncReader::Kind::kPopulate:
        return "populate";
    }
    return "?";
}

} // namespace vcdn::edge
