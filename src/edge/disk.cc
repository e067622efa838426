// The worker's disk path: before a chunk of a file body is sent, make sure its pages are in
// the page cache; if they are not, read them asynchronously and let the connection wait while
// the loop serves everyone else; keep a read-ahead window in front of each stream. See
// disk_io.h for the mechanisms.
#include "worker.h"

#include <unistd.h>

#include <cstring>
#include <fmt/format.h>

#include <vcdn/base/time.h>

namespace vcdn::edge {

namespace {
// Largest range checked (and sent) in one step; matches connection.cc's sendfile chunk.
constexpr uint64_t kCheckChunk = 2u << 20;
constexpr size_t kReapBatch = 64;
// Read-ahead is issued in pieces of this size, in parallel (128 KiB: also the largest read
// FUSE passes to its daemon in one request).
constexpr uint64_t kReadaheadPiece = 128u << 10;
} // namespace

Status Worker::init_disk() {
    Status s = set_up_disk();
    if (!s) return s;
    if (reader_) reader_kind_ = reader_name(reader_->kind());
    if (want_own_fd_table_) {
        // Checked; made again by the worker thread once it has its own descriptor table.
        opener_.reset();
        reader_.reset();
    }
    return {};
}

void Worker::set_up_disk_in_thread() {
    if (!async_disk_) return;
    if (Status s = set_up_disk(); !s) {
        // It was set up a moment ago with the same settings: only a vanishing resource (an
        // io_uring limit) gets here. Serving on with blocking reads beats not serving.
        log::error("worker {}: disk reader: {}; this worker's disk reads now block it", index_,
                   s.error().message);
        reader_.reset();
        opener_.reset();
        async_disk_ = false;
    }
}

Status Worker::set_up_disk() {
    async_disk_ = cfg_->disk.mode != "blocking";
    if (!async_disk_) return {};
    const size_t sink = std::max<size_t>(readahead_bytes_, kCheckChunk);
    const unsigned depth =
        static_cast<unsigned>(std::max<size_t>(8, size_t{max_reads_per_root_} * storage_.size()));
    auto r = AsyncReader::create(cfg_->disk.reader, depth, sink);
    if (!r) return r.error();
    reader_ = std::move(*r);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &disk_pollable_;
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, reader_->event_fd(), &ev) != 0)
        return Error::from_errno("epoll_ctl (disk reader)");
    root_queues_.resize(storage_.size());
    // Opening a file the cache does not hold reads directory and inode blocks: a disk read
    // like any other, so it happens in helper threads too.
    opener_ = std::make_unique<BlockingPool>(4, 1024);
    ev.data.ptr = &opener_pollable_;
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, opener_->event_fd(), &ev) != 0)
        return Error::from_errno("epoll_ctl (opener)");
    return {};
}

int Worker::resident(FileEntry* f, uint64_t off, uint64_t len) {
    // An empty file, or one that cannot be mapped, has nothing sendfile() could wait for.
    if (!f->ensure_map()) return 1;
    if (off >= f->size || len == 0) return 1;
    len = std::min(len, f->size - off);
    // A root that failed is not trusted from memory: its pages may be gone, and a sendfile()
    // from a dead disk must not be what finds out.
    if (!memory_ || !storage_.root(f->root).up()) {
        m_.residency_asked.add();
        return pages_resident(f->map, f->size, off, len);
    }
    // The stamp and the generation before the question: a change while the kernel answers is
    // not lost. The stamp first (ReclaimWatch::poll_at says why).
    const uint16_t stamp = reclaim_->stamp();
    const uint32_t gen = reclaim_->generation();
    LookCtx look{this, f};
    if (memory_->known(f->identity, off, len, gen, now_ms_, stamp, &Worker::look_cached, &look)) {
        m_.residency_remembered.add();
        return 1;
    }
    m_.residency_asked.add();
    // Under steady reclaim (a full page cache taking cold reads: ReclaimWatch::settled says
    // how that is told) the generation moves at nearly every reading, and what is learnt is
    // forgotten before anyone asks again: bench/reclaim.py, 0.1-1% of answers from memory.
    // The range alone is asked about then. Widening it to whole 64 KiB blocks to remember
    // them asked ~1.6x its pages for nothing, and mincore was 15% of the edge's CPU on walks.
    if (!reclaim_->settled()) return pages_resident(f->map, f->size, off, len);
    // While the generation looks long-lived, the whole slot (1 MiB) around the range: one
    // question learns what ~20 requests for the slot's other ranges would otherwise each ask
    // about again (bench/RESULTS.md: asking range by range, about half of all answers came
    // from the kernel on a 2.5 GiB hot set).
    uint64_t blocks = 0;
    constexpr uint64_t kWiden = ResidencyMemory::kSlotBytes;
    const int r =
        pages_resident_blocks(f->map, f->size, off, len, ResidencyMemory::kBlock, kWiden, &blocks);
    memory_->remember(f->identity, off / kWiden * kWiden / ResidencyMemory::kBlock, blocks, gen,
                      now_ms_, stamp);
    return r;
}

// ResidencyMemory::Look: is every page of [off, off+len) of the file in the page cache now?
// One cachestat over at most one slot (1 MiB: up to 256 page-cache entries, fewer with large
// folios); counted per worker. A call that fails (a file the edge may not ask about, EPERM)
// answers no: the range is asked of mincore, as without the look.
bool Worker::look_cached(void* ctx, uint64_t off, uint64_t len) {
    auto* l = static_cast<LookCtx*>(ctx);
    const FileEntry* f = l->file;
    if (off >= f->size) return false;
    len = std::min(len, f->size - off);
    static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    FilePages p;
    const bool whole = file_pages(f->fd, off, len, &p) == 0 && p.cached >= (len + page - 1) / page;
    (whole ? l->worker->m_.residency_looks_kept : l->worker->m_.residency_looks_lost).add();
    return whole;
}

// Called before the head and before each sendfile() of a body. kDone: the next chunk is in
// memory (or async disk is off); kWaitDisk: a read was scheduled; kDiskError: the file cannot
// be read (c->disk_err says why). Never calls back into drive().
Worker::SendResult Worker::ensure_resident(Connection* c) {
    if (c->disk_err) return SendResult::kDiskError;
    if (!async_disk_ || !c->file || c->off >= c->end || c->off < c->ready_until)
        return SendResult::kDone;
    if (c->disk_wait) return SendResult::kWaitDisk;
    FileEntry* f = c->file;
    const uint64_t chunk = std::min<uint64_t>(c->end - c->off, kCheckChunk);
    // A stream: this response continues the previous one on this connection, or a large body
    // continues past its first chunk.
    const bool streaming = c->sequential || c->off > c->range_first;
    const int r = resident(f, c->off, chunk);
    if (r == 1) {
        m_.pagecache_hits.add();
        c->ready_until = c->off + chunk;
        // Hot streams need no read-ahead (and checking a window costs more than the request).
        if (streaming && c->stream_cold) read_ahead(c, f, c->off + chunk);
        return SendResult::kDone;
    }
    if (r < 0) {
        note_disk_error(c, f->root, -r, "residency check");
        return SendResult::kDiskError;
    }
    m_.pagecache_misses.add();
    if (!storage_.root(f->root).up()) {
        note_disk_error(c, f->root, EIO, "read (root failed)");
        return SendResult::kDiskError;
    }
    // The viewer waits only for its own range; the window after it is read in the background
    // (a player starting a title, or walking on, asks for it next).
    schedule_read(c, c->off, static_cast<uint32_t>(chunk));
    c->stream_cold = true;
    if (streaming || c->off == 0) read_ahead(c, f, c->off + chunk);
    return SendResult::kWaitDisk;
}

uint32_t Worker::alloc_op() {
    if (!free_ops_.empty()) {
        uint32_t idx = free_ops_.back();
        free_ops_.pop_back();
        return idx;
    }
    ops_.emplace_back();
    return static_cast<uint32_t>(ops_.size() - 1);
}

void Worker::schedule_read(Connection* c, uint64_t off, uint32_t len) {
    const uint32_t idx = alloc_op();
    ReadOp& op = ops_[idx];
    op.conn = c;
    op.conn_id = c->id;
    op.file = c->file;
    ++op.file->refs; // the descriptor must stay open until the read is done
    op.root = c->file->root;
    op.off = off;
    op.len = len;
    op.readahead = false;
    op.slots = 1;
    op.start_ns = monotonic_ns();
    c->disk_wait = true;
    root_queues_[op.root].waiting.push_back(idx);
    m_.disk_reads_queued.add();
    submit_reads(op.root);
}

// Keeps a read-ahead window of readahead_bytes_ in front of a stream: when the stream comes
// within half a window of what has been started, the rest of the next window is read in
// pieces of kReadaheadPiece, in parallel (a disk serves several requests at once; a single
// large buffered read would be fetched in the kernel's small read-ahead steps, one after the
// other). Pieces already cached are skipped, and read-ahead only uses free slots: reads that
// someone waits for come first.
void Worker::read_ahead(Connection* c, FileEntry* f, uint64_t from) {
    if (readahead_bytes_ == 0 || from >= f->size) return;
    if (c->ra_until >= from + readahead_bytes_ / 2) return;
    const uint64_t end = std::min<uint64_t>(from + readahead_bytes_, f->size);
    uint64_t pos = std::max(from, c->ra_until);
    // A reader that reads whole blocks (disk_io.h) is asked for the rest of the block the
    // window starts in as one exact piece (the viewer's own range may end in that block, its
    // read in flight: a whole block would make it wait for the block), then for the aligned
    // blocks that cover the window, whole (to the end of the file at most: up to one block
    // past the window). Each counts as its size in pieces against max_reads_per_root, so that
    // a viewer's read never queues behind more read-ahead bytes than with pieces.
    const uint64_t block = reader_->block_bytes();
    RootQueue& q = root_queues_[f->root];
    if (!storage_.root(f->root).up()) return;
    bool all_cached = true;
    while (pos < end) {
        uint64_t len = std::min<uint64_t>(kReadaheadPiece, end - pos);
        if (block) len = std::min<uint64_t>(block - pos % block, f->size - pos);
        const uint32_t slots =
            block ? static_cast<uint32_t>((len + kReadaheadPiece - 1) / kReadaheadPiece) : 1;
        if (resident(f, pos, len) == 0) {
            all_cached = false;
            // One piece may always start on an idle root, whatever its size.
            if (!q.waiting.empty() || (q.inflight > 0 && q.inflight + slots > max_reads_per_root_))
                break;
            const uint32_t idx = alloc_op();
            ReadOp& op = ops_[idx];
            op.conn = nullptr;
            op.conn_id = 0;
            op.file = f;
            op.root = f->root;
            op.off = pos;
            op.len = static_cast<uint32_t>(len);
            op.readahead = true;
            op.slots = slots;
            op.start_ns = monotonic_ns();
            if (!reader_->submit(f->fd, pos, op.len, idx)) {
                free_ops_.push_back(idx);
                break;
            }
            ++f->refs;
            q.inflight += slots;
            m_.disk_reads_inflight.add();
            m_.disk_readaheads.add();
        }
        pos += len;
    }
    c->ra_until = std::max(c->ra_until, pos);
    // A window found entirely in memory: the stream has caught up with cached data.
    if (all_cached && pos >= end) c->stream_cold = false;
}

void Worker::submit_reads(uint32_t root) {
    RootQueue& q = root_queues_[root];
    while (q.inflight < max_reads_per_root_ && !q.waiting.empty()) {
        const uint32_t idx = q.waiting.front();
        q.waiting.pop_front();
        m_.disk_reads_queued.sub();
        ReadOp& op = ops_[idx];
        const bool alive = op.conn->id == op.conn_id && op.conn->state != ConnState::kClosed;
        if (!alive || !storage_.root(root).up()) {
            // The viewer left, or the disk failed while the read waited: drop it. A waiting
            // connection learns of it from the run queue (we may be inside its drive()).
            if (alive) {
                op.conn->disk_wait = false;
                note_disk_error(op.conn, root, EIO, "queued read (root failed)");
                enqueue(op.conn);
            }
            files_.release(op.file);
            op.file = nullptr;
            free_ops_.push_back(idx);
            continue;
        }
        if (!reader_->submit(op.file->fd, op.off, op.len, idx)) {
            // The reader is full (more roots than planned for): retry at the next completion.
            q.waiting.push_front(idx);
            m_.disk_reads_queued.add();
            return;
        }
        op.start_ns = monotonic_ns();
        ++q.inflight;
        m_.disk_reads_inflight.add();
        m_.disk_reads.add();
    }
}

void Worker::on_disk_events() {
    AsyncReader::Completion done[kReapBatch];
    const size_t n = reader_->reap(done, kReapBatch);
    const int64_t now = monotonic_ns();
    for (size_t i = 0; i < n; ++i) {
        const uint32_t idx = static_cast<uint32_t>(done[i].token);
        ReadOp& op = ops_[idx];
        const uint32_t root = op.root;
        root_queues_[root].inflight -= op.slots;
        m_.disk_reads_inflight.sub();
        if (op.readahead) {
            // Nobody waits for it; an error here shows again on the read that needs the data.
            if (done[i].result > 0) m_.disk_read_bytes.add(static_cast<uint64_t>(done[i].result));
            files_.release(op.file);
            op.file = nullptr;
            free_ops_.push_back(idx);
            submit_reads(root);
            continue;
        }
        m_.disk_read.observe_us(static_cast<uint64_t>((now - op.start_ns) / 1000));
        const int64_t res = done[i].result;
        if (res > 0) m_.disk_read_bytes.add(static_cast<uint64_t>(res));
        Connection* c = op.conn;
        const bool alive = c->id == op.conn_id && c->state != ConnState::kClosed && c->disk_wait;
        if (res < 0) {
            m_.disk_read_errors.add();
            io::Root& r = storage_.root(root);
            r.read_errors.fetch_add(1);
            if (io::Storage::is_disk_error(static_cast<int>(-res)))
                r.fail(fmt::format("read {}: {}", op.file->key, strerror(static_cast<int>(-res))));
        }
        const uint64_t op_off = op.off;
        files_.release(op.file);
        op.file = nullptr;
        op.conn = nullptr;
        free_ops_.push_back(idx);
        if (alive) {
            c->disk_wait = false;
            if (res <= 0) {
                note_disk_error(c, root, res < 0 ? static_cast<int>(-res) : ENODATA, "read");
            } else {
                // Sent without another check: a page evicted in between costs one blocking
                // sendfile at worst, never a loop of re-reads.
                c->ready_until = op_off + static_cast<uint64_t>(res);
            }
            drive(c);
        }
        submit_reads(root);
    }
}

namespace {
// What a helper thread does to open (or re-check) a file: openat2 beneath the root, fstat.
// Returns the descriptor or -1; *res says what happened.
template <class OpenResult> int64_t open_job(int dirfd, const std::string& path, OpenResult* res) {
    UniqueFd fd;
    res->fe = FileCache::open_beneath(dirfd, path, &fd);
    res->err = errno;
    if (res->fe != FileError::kNone) return -1;
    if (::fstat(fd.get(), &res->st) != 0) {
        res->err = errno;
        res->fe = io::Storage::is_disk_error(errno) ? FileError::kIo : FileError::kOther;
        return -1;
    }
    return fd.release();
}
} // namespace

void Worker::start_open(Connection* c, std::string_view path, size_t from_root) {
    size_t r = from_root;
    while (r < storage_.size() && !storage_.root(r).up())
        ++r;
    if (r >= storage_.size()) {
        c->state = ConnState::kReading; // leave kOpening before answering
        respond_file_error(c, files_.on_failed_root(path) ? FileError::kLost : FileError::kNotFound,
                           path);
        return;
    }
    const uint32_t idx = alloc_op();
    ReadOp& op = ops_[idx];
    op.kind = ReadOp::Kind::kOpen;
    op.conn = c;
    op.conn_id = c->id;
    op.file = nullptr;
    op.root = static_cast<uint32_t>(r);
    op.path.assign(path);
    op.open = std::make_unique<ReadOp::OpenResult>();
    op.start_ns = monotonic_ns();
    ReadOp::OpenResult* res = op.open.get();
    const int dirfd = storage_.root(r).dir_fd();
    if (!opener_->submit(idx, [dirfd, p = op.path, res] { return open_job(dirfd, p, res); })) {
        op.open.reset();
        free_ops_.push_back(idx);
        c->state = ConnState::kReading;
        respond_error(c, 503, "edge busy opening files", false);
        return;
    }
    c->state = ConnState::kOpening;
    link_send_timer(c);
}

void Worker::start_revalidation(FileEntry* f) {
    const uint32_t idx = alloc_op();
    ReadOp& op = ops_[idx];
    op.kind = ReadOp::Kind::kRevalidate;
    op.conn = nullptr;
    op.conn_id = 0;
    op.file = f;
    op.root = f->root;
    op.path = f->key;
    op.open = std::make_unique<ReadOp::OpenResult>();
    ReadOp::OpenResult* res = op.open.get();
    const int dirfd = storage_.root(f->root).dir_fd();
    if (!opener_->submit(idx, [dirfd, p = op.path, res] { return open_job(dirfd, p, res); })) {
        op.open.reset();
        op.file = nullptr;
        free_ops_.push_back(idx);
        return; // try again on a later request
    }
    f->revalidating = true;
    ++f->refs;
}

void Worker::on_opener_events() {
    AsyncReader::Completion done[kReapBatch];
    const size_t n = opener_->reap(done, kReapBatch);
    for (size_t i = 0; i < n; ++i) {
        const uint32_t idx = static_cast<uint32_t>(done[i].token);
        ReadOp& op = ops_[idx];
        const int fd = static_cast<int>(done[i].result);
        ReadOp::OpenResult res = *op.open;
        io::Root& root = storage_.root(op.root);
        if (res.fe == FileError::kIo) {
            root.read_errors.fetch_add(1);
            root.fail(fmt::format("open {}: {}", op.path, strerror(res.err)));
        }
        if (op.kind == ReadOp::Kind::kRevalidate) {
            FileEntry* f = op.file;
            if (res.fe == FileError::kNone) {
                files_.revalidated(f, &res.st, now_ms_);
            } else if (res.fe == FileError::kNotFound || res.fe == FileError::kIo) {
                files_.revalidated(f, nullptr, now_ms_);
            } else {
                f->revalidating = false; // inconclusive (e.g. out of descriptors): keep it
            }
            if (fd >= 0) ::close(fd);
            files_.release(f);
        } else {
            Connection* c = op.conn;
            const bool alive = c->id == op.conn_id && c->state == ConnState::kOpening;
            std::string path = std::move(op.path);
            const uint32_t tried = op.root;
            op.path.clear();
            if (!alive) {
                if (fd >= 0) ::close(fd);
            } else if (res.fe == FileError::kNone) {
                c->state = ConnState::kReading;
                timer_unlink(c);
                FileError fe = FileError::kNone;
                FileEntry* f = files_.adopt(path, tried, fd, res.st, now_ms_, &fe);
                m_.file_cache_entries.set(files_.size());
                if (f)
                    serve_file(c, f);
                else
                    respond_file_error(c, fe, path);
            } else if (res.fe == FileError::kNotFound || res.fe == FileError::kIo) {
                c->state = ConnState::kReading;
                start_open(c, path, tried + 1); // the next root may have it
            } else {
                c->state = ConnState::kReading;
                respond_file_error(c, res.fe, path);
            }
            if (alive && c->state != ConnState::kOpening) drive(c);
        }
        // The calls above may have grown ops_: look the op up again.
        ReadOp& done_op = ops_[idx];
        done_op.open.reset();
        done_op.file = nullptr;
        done_op.conn = nullptr;
        done_op.kind = ReadOp::Kind::kRead;
        free_ops_.push_back(idx);
    }
}

// Records why a connection's file cannot be read; send_some() then answers 503 if nothing
// was sent yet, or closes (the promised Content-Length cannot be met).
void Worker::note_disk_error(Connection* c, uint32_t root, int err, const char* what) {
    c->disk_err = err ? err : EIO;
    uint64_t held;
    if (error_log_limit_.allow(now_ms_, &held))
        log::error("worker {}: {} of {} on root {}: {} ({} similar suppressed)", index_, what,
                   c->file ? c->file->key : std::string("?"), root, strerror(c->disk_err), held);
}

} // namespace vcdn::edge
