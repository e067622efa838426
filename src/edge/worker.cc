// The worker's event loop, accept path, timers and run queue. The per-connection HTTP state
// machine is in connection.cc.
#include "worker.h"

#include <algorithm>

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <utility>

#include <vcdn/base/time.h>
#include <vcdn/io/address.h>

namespace vcdn::edge {

namespace {
constexpr int kMaxEvents = 256;
constexpr int kAcceptBatch = 64;
// Connections of clients at their max_connections_per_client share held for a later turn:
// at most this many, this many per client, for at most this many turns.
constexpr size_t kAtCapMax = 64;
constexpr size_t kAtCapPerClient = 2;
constexpr uint8_t kAtCapTurns = 4;
constexpr int kRunQueueBatch = 256;
constexpr int kMaxTimeoutMs = 1000;

constexpr std::string_view kRefusalBody = "503 Service Unavailable: edge at its connection limit\n";
constexpr std::string_view kClientRefusalBody =
    "503 Service Unavailable: too many connections from your address\n";
} // namespace

namespace {
// Closes the descriptors first..last of the calling thread's table: close_range (Linux 5.9+),
// or, where it is missing or filtered, the open ones /proc/thread-self/fd lists (never a loop
// up to a limit that may be a billion).
void close_fds(unsigned first, unsigned last) {
    if (::syscall(SYS_close_range, first, last, 0) == 0) return;
    DIR* d = ::opendir("/proc/thread-self/fd");
    if (!d) return;
    std::vector<int> open;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        const unsigned long n = std::strtoul(e->d_name, &end, 10);
        if (end != e->d_name && *end == '\0' && n >= first && n <= last &&
            static_cast<int>(n) != ::dirfd(d))
            open.push_back(static_cast<int>(n));
    }
    ::closedir(d);
    for (int fd : open)
        ::close(fd);
}
} // namespace

Worker::Worker(const WorkerOptions& opt)
    : cfg_hold_(opt.config), cfg_(opt.config.get()), storage_(*opt.storage),
      refuse_new_players_(opt.refuse_new_players), control_keys_pending_(opt.control_keys_pending),
      max_conns_(opt.max_connections), access_log_(opt.access_log), served_(opt.served),
      m_(*opt.metrics), index_(opt.index), files_(*opt.storage, opt.config->file_cache.max_entries,
                                                  opt.config->file_cache.revalidate_ms),
      max_reads_per_root_(std::max<uint32_t>(1, opt.max_reads_per_root)),
      readahead_bytes_(opt.config->disk.readahead_kib * 1024) {
    want_own_fd_table_ = opt.own_fd_table;
    if (opt.reclaim && opt.residency) {
        reclaim_ = opt.reclaim;
        memory_ = opt.residency;
    }
    // Sized once: live_update keeps these two for the process's life.
    limits_.max_head_bytes = cfg_->limits.max_head_bytes;
    limits_.max_target_bytes = cfg_->limits.max_target_bytes;
    path_buf_ = std::make_unique<char[]>(cfg_->limits.max_target_bytes + 1);
    epfd_.reset(::epoll_create1(EPOLL_CLOEXEC));
    wakefd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    reserve_fd_process_ = reserve_fd_.get();
    apply_config();
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &wake_pollable_;
    ::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, wakefd_.get(), &ev);
}

void Worker::apply_config() {
    limits_.max_headers = cfg_->limits.max_headers;
    cors_ =
        make_cors_policy(cfg_->cors.enabled, cfg_->cors.allow_origins, cfg_->cors.allow_credentials,
                         cfg_->cors.max_age_s, cfg_->cors.allow_headers);
    // The refusals go out before a request is read: "*" is the same for every page; with a
    // list there is no Origin to echo, so only Vary.
    const std::string refusal_cors = !cors_.enabled ? std::string()
                                     : cors_.any    ? cors_.any_lines
                                                    : std::string("Vary: Origin\r\n");
    refusal_ = fmt::format("HTTP/1.1 503 Service Unavailable\r\nServer: vcdn\r\n"
                           "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n"
                           "Retry-After: 1\r\n{}Connection: close\r\n\r\n{}",
                           kRefusalBody.size(), refusal_cors, kRefusalBody);
    client_refusal_ = fmt::format("HTTP/1.1 503 Service Unavailable\r\nServer: vcdn\r\n"
                                  "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "
                                  "{}\r\nRetry-After: 1\r\n{}Connection: close\r\n\r\n{}",
                                  kClientRefusalBody.size(), refusal_cors, kClientRefusalBody);
    send_period_ms_ = cfg_->limits.send_timeout_ms;
    if (cfg_->limits.min_send_rate_bps > 0)
        send_period_ms_ = std::min({send_period_ms_, cfg_->limits.min_send_rate_after_ms, 5000u});
    per_client_cap_ = 0;
    if (cfg_->limits.max_connections_per_client > 0) {
        // The kernel spreads a client's connections over the workers by a hash of the
        // addresses and ports, not exactly evenly: each worker takes its share and half again.
        const uint64_t w = std::max<uint32_t>(1, cfg_->workers);
        const uint64_t cap = cfg_->limits.max_connections_per_client;
        per_client_cap_ = static_cast<uint32_t>(std::max<uint64_t>(
            1, w == 1 ? cap : std::min<uint64_t>(cap, (cap * 3 + 2 * w - 1) / (2 * w))));
    }
    listener_signed_.clear();
    for (const ListenerConfig& lc : effective_listeners(*cfg_))
        listener_signed_.push_back(requires_signed(*cfg_, lc));
}

Worker::~Worker() {
    join();
    if (own_fd_table_ && reserve_fd_process_ >= 0) ::close(reserve_fd_process_);
    for (auto& c : all_conns_) {
        if (c->fd >= 0) ::close(c->fd);
        if (c->file) files_.release(c->file);
    }
}

void Worker::add_listener(UniqueFd fd, bool tls, uint8_t index) {
    auto l = std::make_unique<Listener>();
    l->kind = PollKind::kListener;
    l->fd = std::move(fd);
    l->tls = tls;
    l->index = index;
    epoll_event ev{};
    // Level-triggered so that accepting in bounded batches never loses a pending connection.
    ev.events = EPOLLIN;
    ev.data.ptr = l.get();
    ::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, l->fd.get(), &ev);
    listeners_.push_back(std::move(l));
}

void Worker::start() {
    std::future<void> started = started_.get_future();
    thread_ = std::thread([this] { run(); });
    started.wait(); // its descriptor table and disk reader are ready
}

// The open-file limit counts the descriptors of one table, and a process's threads share one:
// on these machines 20,000 for every connection of every worker. A worker with a table of its
// own has the whole limit for itself, so N workers hold N times the connections (nginx gets
// the same from its worker processes). The table starts as a copy of the process's; the copy
// keeps only what this worker uses — a listening socket left open here would keep taking
// connections after its own worker closed it (drain). Everything the worker opens from here
// on (connections, cached files, the disk reader's ring and the helper threads made below,
// which share this table) lives only here, and is closed here, before run() returns: the
// process's other threads cannot see it, and must never close it by number.
bool Worker::enter_own_fd_table() {
    if (::unshare(CLONE_FILES) != 0) {
        log::warn("worker {}: unshare(CLONE_FILES): {}: it shares the process's descriptor table",
                  index_, strerror(errno));
        return false;
    }
    std::vector<int> keep{0, 1, 2, epfd_.get(), wakefd_.get(), reserve_fd_.get()};
    for (const auto& l : listeners_)
        keep.push_back(l->fd.get());
    for (size_t i = 0; i < storage_.size(); ++i)
        keep.push_back(storage_.root(i).dir_fd());
    std::sort(keep.begin(), keep.end());
    unsigned from = 0;
    for (int k : keep) {
        if (k < 0 || static_cast<unsigned>(k) < from) continue;
        if (static_cast<unsigned>(k) > from) close_fds(from, static_cast<unsigned>(k) - 1);
        from = static_cast<unsigned>(k) + 1;
    }
    close_fds(from, ~0U);
    return true;
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

void Worker::request_drain() {
    drain_requested_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wakefd_.get(), &one, sizeof one);
}

void Worker::post_keys(std::shared_ptr<const auth::KeySet> keys) {
    {
        std::lock_guard<std::mutex> lk(mailbox_mu_);
        posted_keys_ = std::move(keys);
    }
    mail_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wakefd_.get(), &one, sizeof one);
}

void Worker::post_config(std::shared_ptr<const EdgeConfig> cfg, uint32_t max_connections) {
    {
        std::lock_guard<std::mutex> lk(mailbox_mu_);
        posted_cfg_ = std::move(cfg);
        posted_max_conns_ = max_connections;
    }
    mail_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wakefd_.get(), &one, sizeof one);
}

void Worker::request_pause(bool paused) {
    pause_requested_.store(paused, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wakefd_.get(), &one, sizeof one);
}

void Worker::ping(uint64_t n) {
    ping_.store(n, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wakefd_.get(), &one, sizeof one);
}

void Worker::request_stop() {
    stop_requested_.store(true, std::memory_order_release);
    uint64_t one = 1;
    (void)!::write(wakefd_.get(), &one, sizeof one);
}

void Worker::update_clock() {
    now_ms_ = monotonic_coarse_ms();
    timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != date_second_) {
        date_second_ = ts.tv_sec;
        http::format_http_date(ts.tv_sec, date_);
    }
}

void Worker::run() {
    char name[16];
    snprintf(name, sizeof name, "vcdn-w%zu", index_);
    pthread_setname_np(pthread_self(), name);
    if (want_own_fd_table_) {
        own_fd_table_ = enter_own_fd_table();
        set_up_disk_in_thread();
    }
    started_.set_value();
    epoll_event events[kMaxEvents];
    update_clock();
    for (;;) {
        int timeout = run_head_ || !at_cap_.empty() ? 0 : next_timeout_ms();
        int n = ::epoll_wait(epfd_.get(), events, kMaxEvents, timeout);
        const int wait_errno = n < 0 ? errno : 0; // (what runs next may change errno)
        update_clock();
        if (const uint64_t p = ping_.load(std::memory_order_relaxed);
            p != pong_.load(std::memory_order_relaxed))
            pong_.store(p, std::memory_order_release);
        // Posted state (keys, certificates): checked here, and again where it is used.
        if (mail_.load(std::memory_order_acquire)) take_mail();
        handshakes_this_turn_ = 0;
        if (n < 0 && wait_errno != EINTR) {
            failure_ = fmt::format("epoll_wait: {}", strerror(wait_errno));
            log::error("worker {}: {}: it stops, and the edge with it", index_, failure_);
            failed_.store(true, std::memory_order_release);
            break;
        }
        // What earlier turns queued (deferred handshakes, streams that yielded) goes first, so
        // a steady stream of new events cannot starve it.
        run_queue();
        // Then the running connections, and new connections last: completing handshakes and
        // serving requests comes before starting more handshakes.
        int listeners = 0;
        for (int i = 0; i < n; ++i) {
            if (static_cast<Pollable*>(events[i].data.ptr)->kind == PollKind::kListener)
                std::swap(events[i], events[listeners++]);
            else
                dispatch(events[i]);
        }
        if (!at_cap_.empty()) recheck_at_cap(n); // after the closes this turn brought
        for (int i = 0; i < listeners; ++i)
            dispatch(events[i]);
        retired_listeners_.clear();
        expire_timers();
        if (stop_requested_.load(std::memory_order_acquire)) break;
        if (draining_) {
            if (open_conns_ == 0) break;
            if (now_ms_ >= drain_deadline_ms_) {
                log::warn("worker {}: drain timeout, closing {} connections", index_, open_conns_);
                break;
            }
        }
    }
    // Close whatever is left.
    for (const AtCap& a : at_cap_)
        refuse_client(a.fd, a.peer, per_client_cap_);
    at_cap_.clear();
    for (auto& c : all_conns_)
        if (c->fd >= 0 && c->state != ConnState::kClosed) close_conn(c.get());
    listeners_.clear();
    if (own_fd_table_) {
        // What holds descriptors of this thread's table goes here, in this thread (the
        // Worker itself is destroyed by another one, where these numbers mean other files).
        // Cached files still referenced by a read that never completed are left to the
        // thread's exit, which closes its whole table.
        reader_.reset();
        opener_.reset();
        files_.clear();
        reserve_fd_.reset(); // may have been reopened here (EMFILE): ~Worker closes the original
    }
    finished_.store(true, std::memory_order_release);
}

void Worker::dispatch(epoll_event& ev) {
    auto* p = static_cast<Pollable*>(ev.data.ptr);
    switch (p->kind) {
    case PollKind::kConnection:
        on_conn_event(static_cast<Connection*>(p), ev.events);
        break;
    case PollKind::kListener:
        on_accept(static_cast<Listener*>(p));
        break;
    case PollKind::kWake:
        on_wake();
        break;
    case PollKind::kOpener:
        on_opener_events();
        break;
    case PollKind::kDisk:
        on_disk_events();
        break;
    }
}

void Worker::on_wake() {
    uint64_t v;
    (void)!::read(wakefd_.get(), &v, sizeof v);
    if (mail_.load(std::memory_order_acquire)) take_mail();
    if (drain_requested_.load(std::memory_order_acquire) && !draining_) start_drain();
    const bool pause = pause_requested_.load(std::memory_order_acquire);
    if (pause != paused_ && !draining_) {
        // An upgrade: the new process accepts from the same sockets meanwhile, so a connection
        // in a queue waits for whichever takes it, never for nobody.
        paused_ = pause;
        for (auto& l : listeners_) {
            if (pause) {
                ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, l->fd.get(), nullptr);
            } else {
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.ptr = l.get();
                ::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, l->fd.get(), &ev);
            }
        }
    }
}

void Worker::take_mail() {
    mail_.store(false, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lk(mailbox_mu_);
    if (posted_keys_) keys_ = std::move(posted_keys_);  // swapped between requests
    if (posted_tls_) tls_ctx_ = std::move(posted_tls_); // for connections accepted from now on
    if (posted_cfg_) {
        cfg_hold_ = std::move(posted_cfg_);
        cfg_ = cfg_hold_.get();
        max_conns_ = posted_max_conns_;
        apply_config();
        // Timers under way end no later than the new lengths allow (and the lists stay sorted).
        clamp_timers(TimerList::kIdle, draining_
                                           ? std::min(kDrainIdleMs, cfg_->limits.idle_timeout_ms)
                                           : cfg_->limits.idle_timeout_ms);
        clamp_timers(TimerList::kHeader, cfg_->limits.header_timeout_ms);
        clamp_timers(TimerList::kSend, send_period_ms_);
        clamp_timers(TimerList::kLinger, cfg_->limits.linger_ms);
    }
}

bool Worker::take_posted_keys() {
    std::lock_guard<std::mutex> lk(mailbox_mu_);
    if (!posted_keys_) return false;
    keys_ = std::move(posted_keys_);
    return true;
}

void Worker::start_drain() {
    draining_ = true;
    drain_deadline_ms_ = now_ms_ + cfg_->drain_timeout_ms;
    for (auto& l : listeners_) {
        ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, l->fd.get(), nullptr);
        l->fd.reset();
    }
    // Events of this turn may still point at them: freed after the turn.
    for (auto& l : listeners_)
        retired_listeners_.push_back(std::move(l));
    listeners_.clear();
    // Idle keep-alive connections have nothing in flight, but a client may be sending its
    // next request right now: closing at once would make it retry on a new connection (if it
    // does; RFC 9110 9.3.1 only lets it). They get a short while, in which a request is
    // answered with Connection: close; then they are closed.
    clamp_timers(TimerList::kIdle, std::min(kDrainIdleMs, cfg_->limits.idle_timeout_ms));
}

void Worker::on_accept(Listener* l) {
    // An event of this turn for a listener the drain retired, or one paused for an upgrade.
    if (draining_ || paused_ || !l->fd) return;
    for (int i = 0; i < kAcceptBatch; ++i) {
        sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = ::accept4(l->fd.get(), reinterpret_cast<sockaddr*>(&ss), &sl,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if ((errno == EMFILE || errno == ENFILE) && reserve_fd_) {
                // Out of descriptors: free the spare one to take the connection off the
                // queue and tell the client clearly, instead of leaving it hanging.
                reserve_fd_.reset();
                int fd2 = ::accept4(l->fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd2 >= 0) refuse(fd2, true);
                reserve_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
                continue;
            }
            uint64_t held;
            if (accept_log_limit_.allow(now_ms_, &held))
                log::error("worker {}: accept: {}", index_, strerror(errno));
            return;
        }
        if (open_conns_ + at_cap_.size() >= max_conns_) {
            refuse(fd, false);
            continue;
        }
        const io::IpAddress peer = io::IpAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
        uint32_t* per_client = nullptr;
        if (per_client_cap_) {
            per_client = &per_client_[client_key(peer)];
            if (*per_client >= per_client_cap_) {
                // Perhaps over, perhaps only not yet seen to have closed: decided next turn.
                // A few per client, so that one holding its share and opening more cannot
                // take every place from the others.
                const ClientKey key = client_key(peer);
                size_t held_here = 0;
                for (const AtCap& a : at_cap_)
                    held_here += client_key(a.peer) == key;
                if (at_cap_.size() < kAtCapMax && held_here < kAtCapPerClient)
                    at_cap_.push_back(AtCap{fd, l->index, l->tls, 0, peer, ss});
                else
                    refuse_client(fd, peer, *per_client);
                continue;
            }
        }
        admit(fd, ss, peer, l->tls, l->index, per_client);
    }
}

void Worker::recheck_at_cap(int events) {
    if (events < 0) return; // no events read: nothing has changed
    // A full batch of events may have left the closes still to be read: wait, a few turns at
    // most.
    if (events == kMaxEvents && ++at_cap_.front().turns < kAtCapTurns) return;
    for (const AtCap& a : at_cap_) {
        if (open_conns_ >= max_conns_) {
            refuse(a.fd, false);
            continue;
        }
        if (!per_client_cap_) { // the cap was reloaded away
            admit(a.fd, a.ss, a.peer, a.tls, a.listener, nullptr);
            continue;
        }
        uint32_t* per_client = &per_client_[client_key(a.peer)];
        if (*per_client >= per_client_cap_)
            refuse_client(a.fd, a.peer, *per_client);
        else
            admit(a.fd, a.ss, a.peer, a.tls, a.listener, per_client); // counts it: never 0
    }
    at_cap_.clear();
}

void Worker::refuse_client(int fd, const io::IpAddress& peer, uint32_t held_here) {
    m_.connections_refused_client.add();
    (void)!::recv(fd, scratch_, sizeof scratch_, MSG_DONTWAIT);
    (void)!::send(fd, client_refusal_.data(), client_refusal_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::close(fd);
    uint64_t held = 0;
    if (client_log_limit_.allow(now_ms_, &held))
        log::warn("worker {}: {} holds {} connections here (max_connections_per_client share {}): "
                  "its new ones are answered 503 ({} more since last message)",
                  index_, peer.to_string(), held_here, per_client_cap_, held);
}

void Worker::admit(int fd, const sockaddr_storage& ss, const io::IpAddress& peer, bool tls,
                   uint8_t listener, uint32_t* per_client) {
    if (mail_.load(std::memory_order_acquire)) take_mail(); // a reloaded certificate
    Connection* c = alloc_conn();
    if (per_client) {
        ++*per_client;
        c->per_client_counted = true;
    }
    c->fd = fd;
    c->id = (static_cast<uint64_t>(index_) << 48) | next_conn_id_++;
    c->peer_len = static_cast<uint8_t>(
        io::format_address(reinterpret_cast<const sockaddr*>(&ss), c->peer, sizeof c->peer));
    c->peer_ip = peer;
    c->tls = tls;
    c->listener = listener;
    if (c->tls) start_tls(c);
    ++open_conns_;
    m_.connections_open.add();
    m_.connections_accepted.add();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
        close_conn(c);
        return;
    }
    // With TCP_DEFER_ACCEPT the request (or the TLS ClientHello) is usually already here:
    // go at it right away.
    c->readable = true;
    if (!c->tls) c->state = ConnState::kIdle;
    drive(c);
}

ClientKey Worker::client_key(const io::IpAddress& a) {
    ClientKey k;
    if (a.family == AF_INET) {
        k.hi = 4;
        std::memcpy(&k.lo, a.bytes, 4);
    } else {
        k.hi = 6;
        std::memcpy(&k.lo, a.bytes, 8); // the /64
    }
    return k;
}

void Worker::link_send_timer(Connection* c) {
    if (c->resp_bytes != c->blocked_at_bytes) { // progress since the timer was last set
        c->blocked_at_bytes = c->resp_bytes;
        c->blocked_since_ms = now_ms_;
    }
    timer_link(c, TimerList::kSend, send_period_ms_);
}

bool Worker::too_slow(Connection* c) {
    const uint32_t min_rate = cfg_->limits.min_send_rate_bps;
    // Only a client that is not reading: not while the disk or an open holds the response.
    if (min_rate == 0 || c->start_ns <= 0 || c->state != ConnState::kSending || c->disk_wait)
        return false;
    const int64_t elapsed_ms = now_ms_ - c->start_ns / 1000000;
    if (elapsed_ms < int64_t{cfg_->limits.min_send_rate_after_ms}) return false;
    if (c->body_bytes * 1000 >= uint64_t{min_rate} * static_cast<uint64_t>(elapsed_ms))
        return false;
    m_.timeouts_slow.add();
    uint64_t held = 0;
    if (client_log_limit_.allow(now_ms_, &held))
        log::info("worker {}: {} read {} bytes in {} ms (below min_send_rate_bps {}): "
                  "connection closed ({} more since last message)",
                  index_, std::string_view(c->peer, c->peer_len), c->body_bytes, elapsed_ms,
                  min_rate, held);
    return true;
}

void Worker::refuse(int fd, bool nofile) {
    if (nofile)
        m_.connections_refused_nofile.add();
    else
        m_.connections_refused_limit.add();
    // Read what the client sent so that close() sends FIN, not RST, and the 503 arrives.
    (void)!::recv(fd, scratch_, sizeof scratch_, MSG_DONTWAIT);
    (void)!::send(fd, refusal_.data(), refusal_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::close(fd);
    uint64_t held = 0;
    if (nofile) {
        if (accept_log_limit_.allow(now_ms_, &held))
            log::error("worker {}: open-file limit reached (RLIMIT_NOFILE) with {} connections "
                       "open: new connections are answered 503 ({} more since last message)",
                       index_, open_conns_, held);
    } else {
        if (accept_log_limit_.allow(now_ms_, &held))
            log::warn("worker {}: connection limit reached ({} open, max_connections share {}): "
                      "new connections are answered 503 ({} more since last message)",
                      index_, open_conns_, max_conns_, held);
    }
}

Connection* Worker::alloc_conn() {
    Connection* c;
    if (!free_conns_.empty()) {
        c = free_conns_.back();
        free_conns_.pop_back();
    } else {
        all_conns_.push_back(std::make_unique<Connection>());
        c = all_conns_.back().get();
        c->kind = PollKind::kConnection;
    }
    c->tprev = c->tnext = nullptr;
    c->tlist = TimerList::kNone;
    c->rnext = nullptr;
    c->queued = false;
    c->fd = -1;
    c->state = ConnState::kIdle;
    c->readable = c->parse_pending = c->rdhup = false;
    c->keep_alive = true;
    c->linger_after = false;
    c->head_request = false;
    c->served = 0;
    c->x = nullptr;
    c->rbuf = nullptr;
    c->rlen = 0;
    c->scan.reset();
    c->head_len = c->head_sent = 0;
    c->file = nullptr;
    c->cc_len = -1;
    c->ready_until = 0;
    c->disk_wait = false;
    c->disk_err = 0;
    c->ra_dev = c->ra_ino = 0;
    c->next_off = c->ra_until = 0;
    c->sequential = false;
    c->stream_cold = false;
    c->ssl = nullptr;
    c->ktls = c->resumed = false;
    c->tls_buf = nullptr;
    c->tls_len = c->tls_off = 0;
    return c;
}

void Worker::free_conn(Connection* c) {
    free_conns_.push_back(c);
}

void Worker::take_exchange(Connection* c) {
    Exchange* x;
    if (!free_exchanges_.empty()) {
        x = free_exchanges_.back();
        free_exchanges_.pop_back();
    } else {
        all_exchanges_.push_back(std::make_unique<Exchange>());
        x = all_exchanges_.back().get();
        x->data = std::make_unique<char[]>(cfg_->limits.max_head_bytes);
    }
    x->req.clear();
    c->x = x;
    c->rbuf = x->data.get();
}

void Worker::give_exchange(Connection* c) {
    if (!c->x) return;
    free_exchanges_.push_back(c->x);
    c->x = nullptr;
    c->rbuf = nullptr;
}

void Worker::close_conn(Connection* c) {
    if (c->state == ConnState::kClosed) return;
    timer_unlink(c);
    if (c->per_client_counted) {
        c->per_client_counted = false;
        auto it = per_client_.find(client_key(c->peer_ip));
        if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
    }
    if (c->file) {
        count_served(c); // a response cut short: what was sent counts
        files_.release(c->file);
        c->file = nullptr;
    }
    give_exchange(c);
    end_tls(c);
    ::close(c->fd); // also removes it from epoll
    c->fd = -1;
    c->state = ConnState::kClosed;
    --open_conns_;
    m_.connections_open.sub();
    if (!c->queued) free_conn(c); // else the run queue recycles it
}

// ---- timers: one FIFO list per timeout kind. Every entry of a list has the same duration,
// so appending keeps each list sorted by deadline and expiry only looks at the heads.

void Worker::timer_link(Connection* c, TimerList list, uint32_t duration_ms) {
    timer_unlink(c);
    TimerQueue& q = timers_[static_cast<size_t>(list)];
    c->tlist = list;
    c->deadline_ms = now_ms_ + duration_ms;
    c->tnext = nullptr;
    c->tprev = q.tail;
    if (q.tail)
        q.tail->tnext = c;
    else
        q.head = c;
    q.tail = c;
}

void Worker::clamp_timers(TimerList list, uint32_t max_ms) {
    // Each list is in deadline order because every entry gets the list's one duration: a
    // duration that shrank (a SIGHUP, the drain) would put new entries before older ones.
    // min(deadline, now + max) keeps the order and makes older entries due no later.
    const int64_t limit = now_ms_ + max_ms;
    for (Connection* c = timers_[static_cast<size_t>(list)].head; c; c = c->tnext)
        c->deadline_ms = std::min(c->deadline_ms, limit);
}

void Worker::timer_unlink(Connection* c) {
    if (c->tlist == TimerList::kNone) return;
    TimerQueue& q = timers_[static_cast<size_t>(c->tlist)];
    if (c->tprev)
        c->tprev->tnext = c->tnext;
    else
        q.head = c->tnext;
    if (c->tnext)
        c->tnext->tprev = c->tprev;
    else
        q.tail = c->tprev;
    c->tprev = c->tnext = nullptr;
    c->tlist = TimerList::kNone;
}

int Worker::next_timeout_ms() const {
    int64_t best = now_ms_ + kMaxTimeoutMs;
    for (size_t i = 1; i < static_cast<size_t>(TimerList::kCount); ++i)
        if (timers_[i].head && timers_[i].head->deadline_ms < best)
            best = timers_[i].head->deadline_ms;
    if (draining_ && drain_deadline_ms_ < best) best = drain_deadline_ms_;
    int64_t t = best - now_ms_;
    return t < 0 ? 0 : static_cast<int>(t) + 1;
}

void Worker::expire_timers() {
    for (size_t i = 1; i < static_cast<size_t>(TimerList::kCount); ++i) {
        TimerQueue& q = timers_[i];
        while (q.head && q.head->deadline_ms <= now_ms_) {
            Connection* c = q.head;
            switch (static_cast<TimerList>(i)) {
            case TimerList::kIdle:
                m_.timeouts_idle.add();
                close_conn(c);
                break;
            case TimerList::kHeader:
                m_.timeouts_header.add();
                if (c->rlen == 0) { // connected but never sent a byte: nobody to answer
                    close_conn(c);
                    break;
                }
                c->x->req.clear();
                c->head_request = false;
                c->start_ns = monotonic_ns();
                respond_error(c, 408, "request head not received in time", true);
                drive(c); // best effort: a client too slow to send may also be too slow to read
                break;
            case TimerList::kSend:
                if (too_slow(c)) {
                    close_conn(c);
                } else if (now_ms_ - c->blocked_since_ms >= int64_t{cfg_->limits.send_timeout_ms}) {
                    m_.timeouts_send.add();
                    close_conn(c);
                } else {
                    timer_link(c, TimerList::kSend, send_period_ms_); // check again later
                }
                break;
            case TimerList::kLinger:
                close_conn(c);
                break;
            default:
                timer_unlink(c);
                break;
            }
        }
    }
}

void Worker::enqueue(Connection* c) {
    if (c->queued) return;
    c->queued = true;
    c->rnext = nullptr;
    if (run_tail_)
        run_tail_->rnext = c;
    else
        run_head_ = c;
    run_tail_ = c;
}

void Worker::run_queue() {
    // Only what was queued before this pass runs now, so a connection that re-queues itself
    // waits for the next loop iteration and epoll events in between.
    Connection* tail = run_tail_;
    for (int i = 0; i < kRunQueueBatch && run_head_; ++i) {
        Connection* c = run_head_;
        run_head_ = c->rnext;
        if (!run_head_) run_tail_ = nullptr;
        c->queued = false;
        c->rnext = nullptr;
        if (c->state == ConnState::kClosed)
            free_conn(c);
        else
            drive(c);
        if (c == tail) break;
    }
}

} // namespace vcdn::edge
