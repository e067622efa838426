#pragma once
// One edge worker: a thread with its own epoll loop, its own SO_REUSEPORT listeners, its
// own file cache and connection pool. Nothing on the request path is shared with other
// workers, so there are no locks; the server talks to a worker only through its eventfd
// (drain, stop) and reads its metrics.
#include <sys/epoll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/hash.h>
#include <vcdn/base/log.h>
#include <vcdn/base/mapped_read.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/edge/config.h>
#include <vcdn/edge/disk_io.h>
#include <vcdn/edge/file_cache.h>
#include <vcdn/edge/metrics.h>
#include <vcdn/edge/residency_memory.h>
#include <vcdn/edge/response_plan.h>
#include <vcdn/edge/served.h>
#include <vcdn/http/date.h>
#include <vcdn/http/request.h>
#include <vcdn/http/request_parser.h>
#include <vcdn/io/access_log.h>
#include <vcdn/io/ip_prefix.h>
#include <vcdn/tls/server_context.h>

namespace vcdn::edge {

enum class PollKind : uint8_t { kListener, kWake, kConnection, kDisk, kOpener };

struct Pollable {
    PollKind kind;
};

struct Listener : Pollable {
    UniqueFd fd;
    bool tls = false;
    uint8_t index = 0; // in effective_listeners(): whether it requires signed URLs is live
};

enum class ConnState : uint8_t {
    kIdle,      // keep-alive, no request bytes buffered
    kReading,   // part of a request head buffered
    kSending,   // a response is being written
    kHandshake, // TLS handshake under way
    kOpening,   // waiting for its file to be opened by a helper thread
    kLingering, // write side shut, reading leftovers before close
    kClosed,    // waiting in the run queue to be recycled
};

// Draining: how long an idle keep-alive connection may still bring one more request (answered
// with Connection: close) before it is closed.
inline constexpr uint32_t kDrainIdleMs = 1000;

enum class TimerList : uint8_t { kNone, kIdle, kHeader, kSend, kLinger, kCount };

inline constexpr size_t kResponseHeadCap = 768;

// What a connection needs only while a request is read or answered: the parsed request (its
// views point into data), the response head and the request buffer. Pooled by the worker and
// lent to a connection from its first request byte until it is idle again, so an idle
// keep-alive connection holds none of it (Connection itself stays under 0.5 KB).
struct Exchange {
    http::Request req;
    char head[kResponseHeadCap];
    std::unique_ptr<char[]> data; // limits.max_head_bytes
};

// One client connection. Pooled by the worker and reused; never shared between threads.
struct Connection : Pollable {
    // Timer list and run queue hooks (intrusive: no allocation to move between them).
    Connection* tprev = nullptr;
    Connection* tnext = nullptr;
    int64_t deadline_ms = 0;
    TimerList tlist = TimerList::kNone;
    Connection* rnext = nullptr;
    bool queued = false;

    int fd = -1;
    ConnState state = ConnState::kIdle;
    bool readable = false;      // the socket may have unread bytes (edge-triggered epoll)
    bool parse_pending = false; // buffered bytes not yet offered to the parser
    bool rdhup = false;         // the peer shut its write side (EPOLLRDHUP seen)
    bool keep_alive = true;     // for the current response
    bool linger_after = false;  // unread request bytes may follow: linger before close
    bool head_request = false;
    uint32_t served = 0; // requests answered on this connection
    uint64_t id = 0;

    // Receive side: x (and rbuf, its data) only while a request is read or answered.
    Exchange* x = nullptr;
    char* rbuf = nullptr;
    uint32_t rlen = 0;
    http::ScanState scan;

    // Current response (its head is x->head).
    static constexpr size_t kHeadCap = kResponseHeadCap;
    uint32_t head_len = 0;
    uint32_t head_sent = 0;
    FileEntry* file = nullptr;
    uint64_t off = 0;
    uint64_t end = 0;
    uint16_t status = 0;
    const char* reason = nullptr;
    uint64_t resp_bytes = 0; // head + body bytes written
    uint64_t body_bytes = 0;
    uint64_t range_first = 0; // for the access log
    int64_t start_ns = 0;
    // Disk: file bytes below ready_until are known to be in the page cache; while disk_wait
    // a read into the page cache is pending for this connection.
    uint64_t ready_until = 0;
    bool disk_wait = false;
    int disk_err = 0; // errno of a failed read or check, handled by send_some()
    // Read-ahead state of the stream on this connection: which file, where the next range
    // would start if the player walks on, and how far the read-ahead has been started.
    uint64_t ra_dev = 0, ra_ino = 0;
    uint64_t next_off = 0;
    uint64_t ra_until = 0;
    bool sequential = false;  // this response continues the previous one
    bool stream_cold = false; // this stream hit the disk: keep reading ahead of it

    // TLS (connections from a TLS listener): the session, the context it was made from (kept
    // alive across a certificate reload), and the body path: the kernel's (kTLS, SSL_sendfile)
    // or ours (read the range into tls_buf, SSL_write it).
    SSL* ssl = nullptr;
    std::shared_ptr<const tls::ServerContext> tls_ctx;
    bool ktls = false;
    bool resumed = false;
    bool hs_started = false; // the ClientHello has been processed
    bool tls_more = false;   // the record being written is followed at once by another (MSG_MORE)
    char* tls_buf = nullptr;
    uint32_t tls_len = 0; // bytes of file data in tls_buf
    uint32_t tls_off = 0; // of which already written
    int64_t hs_start_ns = 0;

    // From the listener it came in on.
    bool tls = false;
    uint8_t listener = 0;            // Listener::index
    bool per_client_counted = false; // counted in the worker's per_client_
    // Send timer: when the response last made progress (resp_bytes then).
    int64_t blocked_since_ms = 0;
    uint64_t blocked_at_bytes = ~0ull;
    io::IpAddress peer_ip; // for signed URLs bound to a client network

    // For the access log.
    char peer[56];
    uint8_t peer_len = 0;
    char cc[16];
    int8_t cc_len = -1;   // -1: not read yet
    uint32_t tcpi_ms = 0; // when TCP_INFO was last read for the access log (ms, truncated)
};

struct WorkerOptions {
    std::shared_ptr<const EdgeConfig> config;
    io::Storage* storage = nullptr;

    uint32_t max_reads_per_root = 64; // this worker's share
    uint32_t max_connections = 0;     // this worker's share
    io::AccessLog* access_log = nullptr;
    WorkerMetrics* metrics = nullptr;
    ServedTally* served = nullptr; // what this worker served, for the heartbeat (optional)
    size_t index = 0;
    // Set while the control plane has been unreachable for longer than its grace period:
    // new connections' first requests are answered 503 (the server owns the flag).
    const std::atomic<uint8_t>* refuse_new_players = nullptr; // a refusal_text() code; 0: none
    // With a control plane: true until its first signing keys have been published to the
    // workers; a signature by a key the worker does not know is then answered 503, not 403.
    const std::atomic<bool>* control_keys_pending = nullptr;
    // Give the worker thread its own descriptor table (EdgeConfig::fd_tables = "per-worker").
    bool own_fd_table = false;
    // The kernel's counters of pages taken out of the page cache, and the memory of resident
    // blocks all workers share; with both, the worker trusts what any worker found resident.
    const ReclaimWatch* reclaim = nullptr;
    ResidencyMemory* residency = nullptr;
};

// A client for the per-client connection cap: IPv4 address or IPv6 /64.
struct ClientKey {
    uint64_t hi = 0, lo = 0;
    bool operator==(const ClientKey&) const = default;
};
struct ClientKeyHash { // seeded: clients pick their addresses, not their buckets
    uint64_t seed = process_hash_seed();
    size_t operator()(const ClientKey& k) const {
        return static_cast<size_t>(mix64(k.lo ^ seed) ^ (k.hi + seed));
    }
};

class Worker {
public:
    explicit Worker(const WorkerOptions& opt);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Sets up the asynchronous disk reader (before start()); fails on a bad reader setting.
    // With its own descriptor table the worker sets it up again in its thread (what is made
    // here only checks the setting): the helper threads must share the worker's table.
    Status init_disk();
    const char* reader_kind() const { return reader_kind_; }
    // After start(): whether this worker's thread has its own descriptor table.
    bool own_fd_table() const { return own_fd_table_; }
    // Takes ownership of a bound listening socket (before start()).
    void add_listener(UniqueFd fd, bool tls, uint8_t index);
    // Thread-safe: the signing keys for requests from now on (SIGHUP reload).
    void post_keys(std::shared_ptr<const auth::KeySet> keys);
    // Thread-safe: the TLS context for connections accepted from now on (SIGHUP reload).
    void post_tls(std::shared_ptr<const tls::ServerContext> ctx);
    // Thread-safe: the config (live_update's) and this worker's share of max_connections for
    // requests from now on (SIGHUP reload). Timers already running keep their length.
    void post_config(std::shared_ptr<const EdgeConfig> cfg, uint32_t max_connections);
    void start();
    void join();

    // Thread-safe requests from the server.
    void request_drain(); // stop accepting, finish in-flight responses, then exit
    void request_stop();  // exit now, closing every connection
    // Stop (true) or resume (false) accepting; open connections are served as before.
    void request_pause(bool paused);
    bool finished() const { return finished_.load(std::memory_order_acquire); }
    // The loop ended by itself (epoll_wait failed: only a programming error can make it), not
    // because it was asked to stop or drain: this worker serves nothing any more. failure()
    // says why; it is set before failed() turns true and never changes after.
    bool failed() const { return failed_.load(std::memory_order_acquire); }
    const std::string& failure() const { return failure_; }
    size_t index() const { return index_; }
    // Liveness for the service manager's watchdog: ping(n) wakes the loop, which answers by
    // making pong() n on its next turn. A loop that is stuck (a blocking call, an endless
    // loop) does not answer.
    void ping(uint64_t n);
    uint64_t pong() const { return pong_.load(std::memory_order_acquire); }

private:
    enum class SendResult { kDone, kBlocked, kYield, kFailed, kWaitDisk, kDiskError };

    void run();
    void dispatch(epoll_event& ev);
    void on_wake();
    void on_accept(Listener* l);
    // A new connection, counted against its client's share when `per_client` is set.
    void admit(int fd, const sockaddr_storage& ss, const io::IpAddress& peer, bool tls,
               uint8_t listener, uint32_t* per_client);
    void refuse(int fd, bool nofile);
    void refuse_client(int fd, const io::IpAddress& peer, uint32_t held);
    // Connections of clients at their share, held since the last turn: admitted if the
    // closes read since have made room, else refused.
    void recheck_at_cap(int events); // `events`: what this turn's epoll_wait returned
    void start_drain();

    Connection* alloc_conn();
    void free_conn(Connection* c);
    void take_exchange(Connection* c); // lends c an Exchange (c->x, c->rbuf)
    void give_exchange(Connection* c); // takes it back, if c has one

    void on_conn_event(Connection* c, uint32_t events);
    void drive(Connection* c);
    bool read_some(Connection* c); // false: the connection was closed
    void handle_request(Connection* c);
    void serve_file(Connection* c, FileEntry* f);
    void respond_file_error(Connection* c, FileError fe, std::string_view path);
    void respond_error(Connection* c, uint16_t status, const char* reason, bool close,
                       const FileMeta* file = nullptr);
    SendResult send_some(Connection* c);
    void finish_response(Connection* c);
    // Counts the body bytes of the response under way (finished or cut short) as served.
    // Fill transfers between edges (vcdn-fill/<id>) are not viewers: not counted (a client
    // that says it is one only takes its own views away).
    void count_served(const Connection* c) {
        if (served_ && c->file && c->body_bytes > 0 && (c->status == 200 || c->status == 206) &&
            !(c->x && c->x->req.user_agent.starts_with("vcdn-fill/")))
            served_->add(c->file->key, c->peer_ip, c->body_bytes);
    }
    void begin_close(Connection* c);
    void close_conn(Connection* c);
    void linger_read(Connection* c);
    void write_access_log(Connection* c, int64_t end_ns);

    // TLS (tls.cc): the handshake, reads and writes through OpenSSL, the body's two paths.
    void start_tls(Connection* c);
    bool step_handshake(Connection* c); // false: the connection was closed
    ssize_t conn_read(Connection* c, char* buf, size_t n);
    ssize_t conn_write(Connection* c, const char* buf, size_t n);
    SendResult send_tls_body(Connection* c, uint64_t limit, uint64_t* budget);
    SendResult send_tls_mapped(Connection* c, uint64_t limit, uint64_t* budget);
    // n body bytes left for the client: the response's position and the counters.
    void count_body_sent(Connection* c, uint64_t n) {
        c->off += n;
        c->resp_bytes += n;
        c->body_bytes += n;
        m_.bytes_sent.add(n);
        m_.body_bytes_sent.add(n);
    }
    void end_tls(Connection* c);

    // Disk (disk.cc): residency checks and reads into the page cache.
    SendResult ensure_resident(Connection* c);
    int resident(FileEntry* f, uint64_t off, uint64_t len);
    struct LookCtx {
        Worker* worker;
        const FileEntry* file;
    };
    static bool look_cached(void* ctx, uint64_t off, uint64_t len);
    void schedule_read(Connection* c, uint64_t off, uint32_t len);
    void read_ahead(Connection* c, FileEntry* f, uint64_t from);
    uint32_t alloc_op();
    void submit_reads(uint32_t root);
    void on_disk_events();
    void note_disk_error(Connection* c, uint32_t root, int err, const char* what);
    // Opening files off the worker thread (disk.cc).
    void start_open(Connection* c, std::string_view path, size_t from_root);
    void start_revalidation(FileEntry* f);
    void on_opener_events();

    void timer_link(Connection* c, TimerList list, uint32_t duration_ms);
    void timer_unlink(Connection* c);
    void clamp_timers(TimerList list, uint32_t max_ms);
    void expire_timers();
    int next_timeout_ms() const;
    void enqueue(Connection* c);
    void run_queue();

    void update_clock();

    // The config snapshot in use (swapped by take_mail between requests) and what is derived
    // from it (apply_config).
    std::shared_ptr<const EdgeConfig> cfg_hold_;
    const EdgeConfig* cfg_;
    void apply_config();
    std::vector<bool> listener_signed_; // by Listener::index
    http::ParseLimits limits_;
    io::Storage& storage_;
    const std::atomic<uint8_t>* refuse_new_players_;
    const std::atomic<bool>* control_keys_pending_;
    uint32_t max_conns_;
    io::AccessLog* access_log_;
    ServedTally* served_;
    WorkerMetrics& m_;
    size_t index_;

    UniqueFd epfd_;
    UniqueFd wakefd_;
    Pollable wake_pollable_{PollKind::kWake};
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<Listener>> retired_listeners_; // until the turn ends
    CorsPolicy cors_; // [edge.cors], and a scratch for an echoed origin's lines
    char cors_buf_[400];
    // The CORS lines for the response to c's current request (the Origin only of a request
    // parsed whole: after a response the request's views are stale).
    std::string_view cors_for(const Connection* c) {
        return cors_lines(cors_,
                          c->x && c->x->req.head_bytes > 0 ? c->x->req.origin : std::string_view(),
                          cors_buf_, sizeof cors_buf_);
    }
    void respond_options(Connection* c);
    void send_bodiless(Connection* c, uint16_t status, const char* reason);
    std::string refusal_;        // the 503 answered over the connection limit
    std::string client_refusal_; // ... over max_connections_per_client
    // Open connections per client (IPv4 address, IPv6 /64): this worker's share of
    // max_connections_per_client. Entries go when their count does; at most open_conns_.
    static ClientKey client_key(const io::IpAddress& a);
    std::unordered_map<ClientKey, uint32_t, ClientKeyHash> per_client_;
    uint32_t per_client_cap_ = 0; // 0: no cap
    // A connection from a client at its share waits for the next loop turn's events (a few
    // turns while those come in full batches) before it is refused. A client that opens its
    // connections one after another closes each before it opens the next, but that close is
    // an event the worker reads only after its accept batch: without the wait, one batch could
    // count up to kAcceptBatch of its closed connections as open.
    struct AtCap {
        int fd;
        uint8_t listener;
        bool tls;
        uint8_t turns; // waited with a full batch of events (the first entry's counts)
        io::IpAddress peer;
        sockaddr_storage ss;
    };
    // Looked at after the next turn's connection events, before its listeners'.
    std::vector<AtCap> at_cap_;
    // True (and counted) when the response under way has averaged below min_send_rate_bps
    // for longer than min_send_rate_after_ms.
    bool too_slow(Connection* c);
    // Waiting for the client (or the disk, or an open): the send timer. It fires every
    // send_period_ms_ (the send timeout, or less when the minimum send rate is on) to check
    // the rate; the connection is closed once it made no progress for send_timeout_ms.
    void link_send_timer(Connection* c);
    uint32_t send_period_ms_ = 0;
    UniqueFd reserve_fd_; // spare descriptor: lets us answer 503 when the fd table is full
    FileCache files_;

    std::vector<std::unique_ptr<Connection>> all_conns_;
    std::vector<Connection*> free_conns_;
    std::vector<Exchange*> free_exchanges_;
    std::vector<std::unique_ptr<Exchange>> all_exchanges_;
    uint32_t open_conns_ = 0;
    uint64_t next_conn_id_ = 1;

    struct TimerQueue {
        Connection* head = nullptr;
        Connection* tail = nullptr;
    };
    TimerQueue timers_[static_cast<size_t>(TimerList::kCount)];
    Connection* run_head_ = nullptr;
    Connection* run_tail_ = nullptr;

    int64_t now_ms_ = 0;
    int64_t date_second_ = -1;
    char date_[http::kHttpDateLen];
    int64_t log_second_ = -1;
    int64_t wall_offset_ns_ = 0;    // CLOCK_REALTIME - CLOCK_MONOTONIC, for the access log
    int64_t wall_offset_at_ns_ = 0; // when it was read (monotonic); 0: never
    char log_time_[19];             // "YYYY-MM-DDTHH:MM:SS" of log_second_
    bool draining_ = false;
    int64_t drain_deadline_ms_ = 0;

    // Signing keys: this worker's snapshot, and the next one posted by the server.
    std::shared_ptr<const auth::KeySet> keys_;
    std::mutex mailbox_mu_;
    std::shared_ptr<const auth::KeySet> posted_keys_;
    std::shared_ptr<const tls::ServerContext> tls_ctx_;
    std::shared_ptr<const tls::ServerContext> posted_tls_;
    std::shared_ptr<const EdgeConfig> posted_cfg_;
    uint32_t posted_max_conns_ = 0;
    uint32_t handshakes_this_turn_ = 0;
    std::vector<char*> free_tls_bufs_;
    // SIGBUS from a mapped body page is caught (base/mapped_read.h): TLS bodies may be
    // encrypted straight from the file's mapping (tls.map_bodies).
    const bool mapped_tls_ = base::install_mapped_read_handler();
    std::vector<std::unique_ptr<char[]>> all_tls_bufs_;
    std::atomic<bool> mail_{false};
    void take_mail();
    // Only the keys from the mailbox (mid-request: the rest waits for the loop). True when
    // there were some.
    bool take_posted_keys();

    std::atomic<bool> drain_requested_{false};
    std::atomic<bool> pause_requested_{false};
    bool paused_ = false;
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> finished_{false};
    std::atomic<bool> failed_{false};
    std::string failure_;
    bool own_fd_table_ = false;
    const char* reader_kind_ = nullptr;
    std::promise<void> started_; // run() has its descriptor table and disk reader
    bool want_own_fd_table_ = false;
    int reserve_fd_process_ = -1; // reserve_fd_'s number in the process's table
    bool enter_own_fd_table();
    Status set_up_disk();
    void set_up_disk_in_thread();
    std::atomic<uint64_t> ping_{0}, pong_{0};
    std::thread thread_;

    // Disk reads. One op per connection at most; per root a FIFO of waiting ops and a bound on
    // the ops in flight, so that many cold streams share a disk fairly and cannot flood it.
    struct ReadOp {
        Connection* conn = nullptr;
        uint64_t conn_id = 0;
        FileEntry* file = nullptr; // referenced while the read is pending
        uint32_t root = 0;
        uint64_t off = 0;
        uint32_t len = 0;
        int64_t start_ns = 0;
        bool readahead = false; // background: nobody waits for it
        // Of the root's max_reads_per_root: 1, or a read-ahead block's size in 128 KiB pieces.
        uint32_t slots = 1;
        // Opens and revalidations (kind != read): the path, and what the helper found.
        enum class Kind : uint8_t { kRead, kOpen, kRevalidate } kind = Kind::kRead;
        std::string path;
        struct OpenResult {
            FileError fe = FileError::kNone;
            int err = 0;
            struct stat st {};
        };
        std::unique_ptr<OpenResult> open;
    };
    struct RootQueue {
        std::deque<uint32_t> waiting; // op indices
        uint32_t inflight = 0;
    };
    bool async_disk_ = true;
    const ReclaimWatch* reclaim_ = nullptr;
    ResidencyMemory* memory_ = nullptr; // shared; null: mincore before every range

    uint32_t max_reads_per_root_;
    uint32_t readahead_bytes_;
    std::unique_ptr<AsyncReader> reader_;
    Pollable disk_pollable_{PollKind::kDisk};
    std::unique_ptr<BlockingPool> opener_; // openat2 + fstat of files the cache lacks
    Pollable opener_pollable_{PollKind::kOpener};
    std::vector<ReadOp> ops_;
    std::vector<uint32_t> free_ops_;
    std::vector<RootQueue> root_queues_;

    log::RateLimit accept_log_limit_{5000};
    log::RateLimit client_log_limit_{5000};
    log::RateLimit error_log_limit_{1000};
    std::unique_ptr<char[]> path_buf_; // decoded request path, max_target_bytes long
    char scratch_[16384];              // discarded reads, access log lines
};

} // namespace vcdn::edge
