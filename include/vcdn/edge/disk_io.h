#pragma once
// Never blocking a worker on a disk read.
//
// Linux sendfile() on a page-cache miss blocks the calling thread until the disk delivers.
// So before a chunk of a file is sent, the worker asks whether its pages are resident and
// up to date: mincore(2) on a read-only mapping of the file. (cachestat(2), Linux 6.5+, was
// measured and rejected for that question: it counts pages whose read is still in flight, and
// sendfile() on those blocks. It is used only to look again at a span the residency memory
// had learnt from mincore, residency_memory.h.) If they are, the zero-copy path continues. If not,
// the worker asks an AsyncReader to read the chunk into the page cache (io_uring buffered reads, or
// a small pool of helper threads where io_uring is unavailable), and the connection waits without
// holding the loop. The data read lands in a throw-away buffer: what matters is the page cache it
// fills, which the following sendfile() then sends without a copy. The "sendfile" reader
// brings the pages in without that copy to user memory: helper threads sendfile() the range
// to /dev/null (the kernel splices page references to a sink that drops them), which costs a
// cold byte little more than a hot one. The "populate" reader does the same for a viewer's own
// miss, and brings read-ahead in as whole 2 MiB blocks, each one large folio of the page cache
// where the file system has them (disk_io.cc says how).
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <vcdn/base/result.h>

namespace vcdn::edge {

// Are all pages of [off, off+len) of a file resident and up to date? `map` is a PROT_READ
// mapping of the whole file of `file_size` bytes. Returns 1 (resident), 0 (not) or -errno.
int pages_resident(const void* map, uint64_t file_size, uint64_t off, uint64_t len);
// The same answer for [off, off+len), from one mincore over that range widened to whole
// multiples of widen_bytes (itself a multiple of block_bytes, which is a multiple of the page
// size; anything else widens to whole blocks). Whatever the answer, bit i of *blocks says
// whether block off / widen_bytes * widen_bytes / block_bytes + i was wholly resident (up to
// the end of the file), so that it can be remembered. A widened range of more than 64 blocks
// or 1,024 pages is not widened (*blocks 0).
int pages_resident_blocks(const void* map, uint64_t file_size, uint64_t off, uint64_t len,
                          uint64_t block_bytes, uint64_t widen_bytes, uint64_t* blocks);

// What the page cache holds of [off, off+len) of a file (len 0: to its end), from cachestat(2)
// (Linux 6.5+): pages cached (a page whose read is still in flight counts). One call walks the
// range's page-cache entries (one per folio), not its pages one by one: ~3.4 µs for a resident 64
// MiB file here (ext4 with large folios), where mincore over it took ~880 µs. Returns 0 or -errno
// (-ENOSYS before 6.5 or where a seccomp filter refuses it; -EPERM on newer kernels for a file the
// caller neither owns nor may write).
struct FilePages {
    uint64_t cached = 0;
};
int file_pages(int fd, uint64_t off, uint64_t len, FilePages* out);
// Does this kernel answer cachestat(2)? Asked once, of a descriptor that is not open.
bool have_cachestat();

// Asynchronous reads into the page cache. One per worker; not thread-safe.
class AsyncReader {
public:
    struct Completion {
        uint64_t token = 0;
        int64_t result = 0; // bytes read, or -errno
    };
    enum class Kind : uint8_t { kIoUring, kThreads, kSendfile, kPopulate };
    // The populate reader brings whole aligned blocks of this size in as one large page each.
    static constexpr uint64_t kPopulateBlock = 2u << 20;

    // `depth`: the most reads in flight; `sink_bytes`: the largest single read.
    static Result<std::unique_ptr<AsyncReader>> create(const std::string& configured,
                                                       unsigned depth, size_t sink_bytes);
    virtual ~AsyncReader() = default;

    virtual Kind kind() const = 0;
    // Non-zero: read-ahead should ask for whole blocks of this size, aligned to it (the reader
    // reads them as a whole); 0: any range.
    virtual uint64_t block_bytes() const { return 0; }
    // Blocks brought in whole as large pages so far (the populate reader; 0 for the others).
    virtual uint64_t blocks_populated() const { return 0; }
    // The populate reader found the kernel refusing it and splices every block instead.
    virtual bool blocks_refused() const { return false; }
    // Readable (for epoll) when completions are waiting.
    virtual int event_fd() const = 0;
    // Starts reading `len` bytes at `off`. False when the reader is full or failed to submit.
    virtual bool submit(int fd, uint64_t off, uint32_t len, uint64_t token) = 0;
    // Collects finished reads (clears the event fd); returns how many were written to out.
    virtual size_t reap(Completion* out, size_t max) = 0;
};

const char* reader_name(AsyncReader::Kind k);

// A few helper threads that run blocking calls (pread, openat2) for one worker and report
// through an eventfd that the worker's epoll watches. Only the cold paths use it (page-cache
// misses without io_uring, opening files the cache does not hold), so the mutex is off the
// hot path. Jobs return an int64_t (a count, a descriptor or -errno).
class BlockingPool {
public:
    BlockingPool(unsigned threads, unsigned max_pending);
    ~BlockingPool();
    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;

    int event_fd() const { return efd_; }
    // False when max_pending jobs are queued or running.
    bool submit(uint64_t token, std::function<int64_t()> job);
    size_t reap(AsyncReader::Completion* out, size_t max);

private:
    void run();

    int efd_ = -1;
    unsigned max_pending_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::pair<uint64_t, std::function<int64_t()>>> jobs_;
    std::vector<AsyncReader::Completion> done_;
    unsigned busy_ = 0;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

} // namespace vcdn::edge
