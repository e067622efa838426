#include <vcdn/edge/server.h>

#include <algorithm>
#include <csignal>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <thread>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/log.h>
#include <vcdn/base/process.h>
#include <vcdn/base/prometheus.h>
#include <vcdn/base/time.h>
#include <vcdn/base/version.h>
#include <vcdn/bgp/watcher.h>
#include <vcdn/fill/filler.h>
#include <vcdn/io/access_log.h>
#include <vcdn/io/http_service.h>
#include <vcdn/io/tcp.h>
#include <vcdn/tls/server_context.h>

#include "control_client.h"
#include "worker.h"

namespace vcdn::edge {

struct EdgeServer::Impl {
    EdgeConfig cfg; // as started: what cannot change (listeners, roots, workers resolved, ...)
    // What runs now (live_update of every SIGHUP'd file): the workers' snapshot. Replaced by
    // the controlling thread only.
    std::shared_ptr<const EdgeConfig> live;
    uint32_t configured_workers = 0; // cfg.workers before 0 was resolved
    std::atomic<uint64_t> reloads{0}, reload_failures{0};
    std::atomic<uint64_t> upgrades_done{0}, upgrades_failed{0};
    bool defer_fill = false;
    std::vector<std::pair<uint8_t, int>> handoff_fds; // every worker's listening sockets
    // Workers with descriptor tables of their own close their listeners in their tables; the
    // process's table still holds them (for an upgrade's hand-over) until a drain or a stop,
    // which close them here, so that no socket goes on queueing connections nobody accepts.
    std::vector<size_t> handoff_worker; // which worker each handoff_fds entry went to
    bool listener_copies_open = false;
    void close_listener_copies() {
        if (!listener_copies_open) return;
        listener_copies_open = false;
        // Only the copies of workers with a table of their own: a worker that shares this
        // table uses (and closes) these very numbers itself.
        for (size_t i = 0; i < handoff_fds.size(); ++i)
            if (workers[handoff_worker[i]]->own_fd_table()) ::close(handoff_fds[i].second);
        handoff_fds.clear();
        handoff_worker.clear();
    }
    // What the workers got: the config's wish until start(), then whether every worker's
    // unshare worked (a seccomp filter may refuse it: then they share one table).
    bool per_worker_tables = true;
    // The process's connection limit for a config: max_connections, or what the open-file
    // limit leaves.
    // Descriptors that are not connections: per worker its cached files, its own (epoll,
    // eventfds, spare) and the sendfile and populate readers' pipes; listeners; the process's
    // own.
    // With a descriptor table per worker (fd_tables = "per-worker") the limit counts each
    // worker's table: its cached files, its own descriptors, its listeners and the roots, and
    // stdio — and the connection limit is that many times the workers.
    uint64_t reserved_fds(const EdgeConfig& c) const {
        const uint64_t reader_pipes =
            c.disk.reader == "sendfile" || c.disk.reader == "populate" ? 2 * 32 : 0;
        if (c.fd_tables == "per-worker" && per_worker_tables)
            return c.file_cache.max_entries + 16 + reader_pipes + 64 + c.listen.size() +
                   c.roots.size();
        return uint64_t{c.workers} * (c.file_cache.max_entries + 8 + reader_pipes) + 64 +
               c.listen.size() * c.workers;
    }
    uint32_t connection_limit(const EdgeConfig& c) const {
        const uint64_t reserved = reserved_fds(c);
        uint64_t fit = nofile > reserved ? nofile - reserved : 1;
        if (c.fd_tables == "per-worker" && per_worker_tables) fit *= c.workers;
        if (c.limits.max_connections == 0)
            return static_cast<uint32_t>(std::min<uint64_t>(fit, UINT32_MAX));
        if (c.limits.max_connections > fit)
            log::warn("max_connections {} exceeds what the open-file limit {} leaves ({}); "
                      "connections beyond that are answered 503",
                      c.limits.max_connections, nofile, fit);
        return c.limits.max_connections;
    }
    std::unique_ptr<io::Storage> storage;
    // Before the workers, which read it, so that it outlives them.
    std::unique_ptr<ReclaimWatch> reclaim;
    std::unique_ptr<ResidencyMemory> residency_memory;
    std::string residency = "mincore before every range";

    std::string reader_name = "off";
    std::string cc; // resolved congestion control
    uint64_t nofile = 0;
    std::atomic<uint32_t> max_connections{0};    // the admin thread reads it
    std::vector<io::SocketAddress> listen_addrs; // plain HTTP
    std::vector<BoundListener> bound;            // every listener
    std::shared_ptr<const auth::KeySet> keys;    // what the workers use: file keys + control keys
    std::mutex keys_mu;
    std::vector<auth::SigningKey> file_keys;    // --signing-keys
    std::vector<auth::SigningKey> control_keys; // from heartbeat replies
    // Why new players are refused (ControlClient::Refusal; 0: they are taken).
    std::atomic<uint8_t> refuse_new_players{0};
    // With a control plane, until its first signing keys are in the workers' mailboxes.
    std::atomic<bool> control_keys_pending{false};
    std::unique_ptr<ControlClient> control;
    std::unique_ptr<fill::Filler> filler;
    std::unique_ptr<bgp::Watcher> bgp_watcher; // [edge.bgp]: the local BIRD

    // Merges the two key sources and hands the result to the workers.
    void publish_keys() {
        std::lock_guard lk(keys_mu);
        std::vector<auth::SigningKey> all = file_keys;
        for (const auth::SigningKey& k : control_keys) {
            bool dup = false;
            for (const auth::SigningKey& f : all)
                dup = dup || f.id == k.id;
            if (!dup) all.push_back(k);
        }
        auto ks = auth::KeySet::from_keys(std::move(all));
        keys = ks ? std::make_shared<const auth::KeySet>(std::move(*ks)) : nullptr;
        if (!ks && !(file_keys.empty() && control_keys.empty()))
            log::error("edge: signing keys: {}", ks.error().message);
        for (auto& w : workers)
            w->post_keys(keys);
    }
    bool any_tls = false;
    std::shared_ptr<tls::TicketKeys> ticket_keys = std::make_shared<tls::TicketKeys>();
    std::shared_ptr<const tls::ServerContext> tls_ctx;
    std::thread maintenance; // ticket key rotation
    std::atomic<bool> stopping{false};

    Result<std::shared_ptr<tls::ServerContext>> build_tls(const EdgeConfig& cfg) const {
        tls::ServerOptions o;
        for (const TlsCertConfig& c : cfg.tls.certs)
            o.certs.push_back(tls::CertFiles{c.cert, c.key});
        o.min_version = cfg.tls.min_version;
        o.ktls = cfg.tls.ktls;
        return tls::ServerContext::build(o, ticket_keys);
    }
    std::vector<io::SocketAddress> admin_addrs;
    std::unique_ptr<io::AccessLog> access_log;
    std::vector<std::unique_ptr<WorkerMetrics>> metrics;
    // What each worker served, for the heartbeats (with a control plane only).
    std::vector<std::unique_ptr<ServedTally>> served;
    std::vector<std::unique_ptr<Worker>> workers;
    std::string worker_failure() const {
        for (const auto& w : workers)
            if (w->failed()) return fmt::format("worker {} stopped: {}", w->index(), w->failure());
        return {};
    }
    uint64_t ping_seq = 0; // workers_alive()
    std::unique_ptr<io::HttpService> admin;
    std::atomic<bool> draining{false};
    int64_t start_time = 0;

    std::string render_metrics() const;
    void start_control();
};

Result<std::string> check_config(const EdgeConfig& cfg) {
    if (Status s = validate(cfg); !s) return s.error();
    if (!cfg.signing_keys.empty())
        if (auto ks = auth::KeySet::load(cfg.signing_keys); !ks) return ks.error();
    bool any_tls = !cfg.tls_listen.empty();
    for (const ListenerConfig& lc : cfg.listeners)
        any_tls = any_tls || lc.tls;
    if (any_tls || !cfg.tls.certs.empty()) {
        tls::ServerOptions o;
        for (const TlsCertConfig& c : cfg.tls.certs)
            o.certs.push_back(tls::CertFiles{c.cert, c.key});
        o.min_version = cfg.tls.min_version;
        o.ktls = false; // the kernel's TLS is a run-time matter, not the config's
        if (auto ctx = tls::ServerContext::build(o, std::make_shared<tls::TicketKeys>()); !ctx)
            return Error{"tls: " + ctx.error().message};
    }
    const size_t listeners = cfg.listen.size() + cfg.tls_listen.size() + cfg.listeners.size();
    std::string summary =
        fmt::format("{} listener{}, {} content root{}", listeners, listeners == 1 ? "" : "s",
                    cfg.roots.size(), cfg.roots.size() == 1 ? "" : "s");
    if (cfg.require_signed_urls) summary += ", signed URLs required";
    if (!cfg.control.url.empty())
        summary += fmt::format(", control plane {} as '{}'", cfg.control.url, cfg.control.id);
    if (!cfg.fill.window.empty()) summary += fmt::format(", fill window {}", cfg.fill.window);
    return summary;
}

namespace {
unsigned default_workers() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1u, std::thread::hardware_concurrency());
}
} // namespace

Result<std::unique_ptr<EdgeServer>> EdgeServer::create(const EdgeConfig& cfg_in, Handoff* handoff) {
    auto impl = std::make_unique<Impl>();
    impl->cfg = cfg_in;
    EdgeConfig& cfg = impl->cfg;
    if (Status s = validate(cfg); !s) return s.error();
    impl->configured_workers = cfg.workers;
    if (cfg.workers == 0) cfg.workers = default_workers();

    auto storage = io::Storage::open(cfg.roots);
    if (!storage) return storage.error();
    impl->storage = std::move(*storage);
    // Probe openat2 (Linux 5.6+) once, so that the fallback is chosen (and said) at start.
    {
        UniqueFd probe;
        FileError pe =
            FileCache::open_beneath(impl->storage->root(0).dir_fd(), ".vcdn-openat2-probe", &probe);
        // A name that does not exist answers ENOENT; EPERM even without O_NOATIME is a seccomp
        // filter refusing the system call itself (as some container runtimes do).
        if (pe == FileError::kForbidden && errno == EPERM) FileCache::use_component_walk(true);
        if (!FileCache::has_openat2())
            log::warn("this kernel lacks openat2 (Linux 5.6+): files are opened one path "
                      "component at a time and symlinks beneath the roots are not followed");
    }

    impl->nofile = io::raise_nofile_limit();
    const uint64_t reserved = impl->reserved_fds(cfg);
    if (impl->nofile <= reserved + 16)
        return Error{fmt::format("open-file limit {} is too low for {} workers with {} cached "
                                 "files each; lower file_cache.max_entries or raise the limit",
                                 impl->nofile, cfg.workers, cfg.file_cache.max_entries)};
    impl->max_connections = impl->connection_limit(cfg);
    impl->cc = io::resolve_congestion_control(cfg.congestion_control);

    io::ListenOptions lopt;
    lopt.backlog = static_cast<int>(cfg.backlog);
    lopt.defer_accept = cfg.defer_accept;
    lopt.congestion_control = impl->cc;
    lopt.notsent_lowat = cfg.notsent_lowat;
    lopt.max_pacing_rate = static_cast<uint64_t>(cfg.pacing_rate_mbps * 1e6 / 8);

    for (const ListenerConfig& lc : effective_listeners(cfg))
        impl->any_tls = impl->any_tls || lc.tls;
    if (impl->any_tls) {
        // OpenSSL writes to sockets with write(2): a peer that vanished must not kill us.
        std::signal(SIGPIPE, SIG_IGN);
        auto ctx = impl->build_tls(cfg);
        if (!ctx) return ctx.error();
        impl->tls_ctx = std::move(*ctx);
    }
    if (!cfg.signing_keys.empty()) {
        auto ks = auth::KeySet::load(cfg.signing_keys);
        if (!ks) return ks.error();
        impl->file_keys = ks->keys();
        impl->keys = std::make_shared<const auth::KeySet>(std::move(*ks));
    }

    auto al = io::AccessLog::open(cfg.access_log, cfg.workers);
    if (!al) return al.error();
    impl->access_log = std::move(*al);

    const uint32_t per_worker =
        std::max<uint32_t>(1, (impl->max_connections.load() + cfg.workers - 1) / cfg.workers);
    // The heartbeat carries at most wire::kMaxServed entries: each worker's share, with the
    // eighth more a tally may fold into (file, unknown network) entries.
    const size_t served_keys = wire::kMaxServed * 8 / 9 / cfg.workers;
    impl->live = std::make_shared<const EdgeConfig>(cfg);
    if (cfg.disk.mode != "blocking" && cfg.disk.residency_memory_ms > 0) {
        // Every 10 ms: a reading costs ~4 µs of kernel time and ~600 instructions, and a page
        // taken out is trusted at most until the next one (reclaim takes pages unused for a
        // while: rarely one asked for in the next 10 ms).
        const bool recheck = cfg.disk.residency_recheck && have_cachestat();
        auto rw = ReclaimWatch::start(cfg.disk.reclaim_counters, 10, recheck);
        if (rw) {
            impl->reclaim = std::move(*rw);
            // One slot per MiB of memory: enough for a hot set as large as the page cache,
            // which a memory cgroup's limit bounds too.
            const uint64_t mem = usable_memory_bytes();
            const uint64_t slots =
                std::clamp<uint64_t>(mem / ResidencyMemory::kSlotBytes, 4096, uint64_t{1} << 20);
            impl->residency_memory = std::make_unique<ResidencyMemory>(
                static_cast<uint32_t>(slots), cfg.disk.residency_memory_ms);
            impl->residency = fmt::format(
                "remembered for up to {} ms unless {} shows pages taken out ({}), else mincore",
                cfg.disk.residency_memory_ms, cfg.disk.reclaim_counters,
                recheck ? "after a fall of file pages alone, each slot is looked at again"
                        : "forgetting everything");
        } else {
            log::warn("edge: disk.reclaim_counters: {}: residency is asked of the kernel "
                      "before every range",
                      rw.error().message);
        }
    }
    impl->control_keys_pending.store(!cfg.control.url.empty());
    for (unsigned w = 0; w < cfg.workers; ++w) {
        impl->metrics.push_back(std::make_unique<WorkerMetrics>());
        if (!cfg.control.url.empty())
            impl->served.push_back(std::make_unique<ServedTally>(served_keys));
        WorkerOptions wo;
        wo.config = impl->live;
        wo.storage = impl->storage.get();

        wo.max_reads_per_root = (cfg.disk.max_reads_per_root + cfg.workers - 1) / cfg.workers;
        wo.max_connections = per_worker;
        wo.access_log = impl->access_log.get();
        wo.metrics = impl->metrics.back().get();
        wo.served = impl->served.empty() ? nullptr : impl->served.back().get();
        wo.index = w;
        wo.refuse_new_players = &impl->refuse_new_players;
        wo.control_keys_pending = &impl->control_keys_pending;
        wo.own_fd_table = cfg.fd_tables == "per-worker";
        wo.reclaim = impl->reclaim.get();
        wo.residency = impl->residency_memory.get();
        impl->workers.push_back(std::make_unique<Worker>(wo));
        if (impl->keys) impl->workers.back()->post_keys(impl->keys);
        if (impl->tls_ctx) impl->workers.back()->post_tls(impl->tls_ctx);
        if (Status s = impl->workers.back()->init_disk(); !s)
            return Error{"disk reader: " + s.error().message};
    }
    if (cfg.disk.mode == "async" && impl->workers.front()->reader_kind())
        impl->reader_name = impl->workers.front()->reader_kind();
    // Every worker gets its own socket per address (SO_REUSEPORT): the kernel spreads
    // connections and no accept lock is shared. Port 0 is resolved by the first bind. An
    // address another process listens on is an error, not a share (io::listen_group).
    const std::vector<ListenerConfig> lcs = effective_listeners(cfg);
    for (const ListenerConfig& lc : lcs) {
        auto addr = io::parse_socket_address(lc.address);
        if (!addr) return addr.error();
        const bool require_signed = requires_signed(cfg, lc);
        const auto index = static_cast<uint8_t>(impl->bound.size());
        std::vector<UniqueFd> fds;
        if (handoff)
            for (auto& [i, fd] : handoff->listeners)
                if (i == index && fd) fds.push_back(std::move(fd));
        if (!fds.empty()) {
            // Handed over: the same address (the port the old process got for port 0).
            auto at = io::local_address(fds[0].get());
            if (!at) return at.error();
            if (at->family() != addr->family() || at->host_string() != addr->host_string() ||
                (addr->port() != 0 && at->port() != addr->port()))
                return Error{fmt::format("upgrade: listener {} is {} here but {} in the process "
                                         "that handed it over; change listeners with a restart",
                                         index, lc.address, at->to_string())};
            // Every handed-over socket is accepted from (a queue nobody reads would hold its
            // share of new connections): one per worker, dups where there are fewer sockets
            // than workers, several for a worker where there are more.
            const size_t given = fds.size();
            for (size_t w = given; w < cfg.workers; ++w)
                fds.emplace_back(::fcntl(fds[w % given].get(), F_DUPFD_CLOEXEC, 0));
        } else {
            auto group = io::listen_group(*addr, cfg.workers, lopt);
            if (!group) return group.error();
            fds = std::move(*group);
        }
        auto bound = io::local_address(fds[0].get());
        if (!bound) return bound.error();
        impl->bound.push_back(BoundListener{*bound, lc.tls, require_signed});
        if (!lc.tls) impl->listen_addrs.push_back(*bound);
        for (size_t k = 0; k < fds.size(); ++k) {
            if (!fds[k])
                return Error{
                    fmt::format("upgrade: dup of a listening socket: {}", strerror(errno))};
            impl->handoff_fds.emplace_back(index, fds[k].get());
            impl->handoff_worker.push_back(k % cfg.workers);
            impl->workers[k % cfg.workers]->add_listener(std::move(fds[k]), lc.tls, index);
        }
    }
    if (handoff) {
        // A handed-over socket this config does not use would keep taking connections into a
        // queue nobody reads: listeners change with a restart, never with an upgrade.
        for (auto& [i, fd] : handoff->listeners)
            if (fd) {
                auto at = io::local_address(fd.get());
                return Error{fmt::format("upgrade: the handed-over listener {} ({}) is not in "
                                         "this config; change listeners with a restart",
                                         i, at ? at->to_string() : std::string("?"))};
            }
        if (handoff->admin && cfg.admin.empty())
            return Error{"upgrade: the handed-over admin listener is not in this config; change "
                         "listeners with a restart"};
    }
    if (!cfg.admin.empty()) {
        auto addr = io::parse_socket_address(cfg.admin);
        if (!addr) return addr.error();
        Impl* raw = impl.get();
        auto router = std::make_shared<io::Router>(io::text_error_answer);
        router->set_fallback([](const io::ApiRequest&) {
            return io::text_error_answer(
                404, "not-found",
                "the admin listener serves /metrics, /healthz, /storage and POST "
                "/fill/allow-deletions");
        });
        router->get("/metrics", [raw](const io::ApiRequest&) {
            io::ApiResponse r;
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = raw->render_metrics();
            return r;
        });
        router->get("/healthz", [raw](const io::ApiRequest&) {
            io::ApiResponse r;
            r.content_type = "text/plain; charset=utf-8";
            const size_t up = raw->storage->up_count();
            const std::string refusal = raw->control ? raw->control->refusal() : std::string();
            if (std::string f = raw->worker_failure(); !f.empty()) {
                r.status = 503;
                r.body = f + "\n";
            } else if (raw->draining.load()) {
                r.status = 503;
                r.body = "draining\n";
            } else if (!refusal.empty()) {
                // The players it has are still served; a load balancer or a person asking
                // whether to send new ones gets the truth.
                r.status = 503;
                r.body = refusal + "\n";
            } else if (up == 0) {
                r.status = 503;
                r.body = "no storage: every content root has failed\n";
            } else if (up < raw->storage->size()) {
                r.body = fmt::format("degraded: {} of {} content roots failed\n",
                                     raw->storage->size() - up, raw->storage->size());
            } else {
                r.body = "ok\n";
            }
            return r;
        });
        // The local override for a manifest that would delete more than max_delete_share:
        // only an operator who holds the edge's own token (the one it shows the control plane)
        // can give it, on the admin listener, never the control plane itself (it answers
        // heartbeats, it never calls the edge).
        router->add(http::Method::kPost, "/fill/allow-deletions", [raw](const io::ApiRequest& q) {
            io::ApiResponse r;
            r.content_type = "text/plain; charset=utf-8";
            const std::string token = raw->control ? raw->control->token() : std::string();
            std::string_view given = q.authorization;
            const bool bearer = given.starts_with("Bearer ");
            if (bearer) given.remove_prefix(7);
            if (token.empty() || !bearer || given.size() != token.size() ||
                CRYPTO_memcmp(given.data(), token.data(), token.size()) != 0) {
                r.status = given.empty() ? 401 : 403;
                r.body = "POST /fill/allow-deletions needs 'Authorization: Bearer <this edge's "
                         "token>' (its [edge.control] token_file)\n";
                static log::RateLimit rl(10000);
                uint64_t suppressed = 0;
                if (rl.allow(monotonic_ms(), &suppressed))
                    log::warn("edge: POST /fill/allow-deletions from {} refused: {} token ({} "
                              "similar suppressed)",
                              q.client.to_string(), given.empty() ? "no" : "a wrong", suppressed);
                return r;
            }
            if (!raw->filler) {
                r.status = 404;
                r.body = "this edge does not fill (no --fill-window)\n";
            } else {
                r.body = raw->filler->allow_deletions() + "\n";
            }
            return r;
        });
        router->get("/storage", [raw](const io::ApiRequest&) {
            io::ApiResponse r;
            r.body = raw->storage->status_json();
            return r;
        });
        io::HttpServiceOptions ao;
        ao.threads = 1;
        ao.max_connections = 64; // operators and Prometheus, not players
        ao.idle_timeout_ms = 10000;
        ao.request_timeout_ms = 10000;
        Result<std::unique_ptr<io::HttpService>> admin = Error{""};
        if (handoff && handoff->admin) {
            auto at = io::local_address(handoff->admin.get());
            if (!at || at->host_string() != addr->host_string() ||
                (addr->port() != 0 && at->port() != addr->port()))
                return Error{fmt::format("upgrade: the admin listener is {} here but {} in the "
                                         "process that handed it over; change listeners with a "
                                         "restart",
                                         cfg.admin, at ? at->to_string() : std::string("?"))};
            std::vector<UniqueFd> one;
            one.push_back(std::move(handoff->admin));
            admin = io::HttpService::adopt(std::move(one), std::move(router), ao, "vcdn-admin");
        } else {
            admin = io::HttpService::listen(*addr, std::move(router), ao, "vcdn-admin");
        }
        if (!admin) return Error{"admin listener: " + admin.error().message};
        impl->admin_addrs.push_back((*admin)->address());
        impl->admin = std::move(*admin);
    }
    impl->defer_fill = handoff && handoff->defer_fill;
    return std::unique_ptr<EdgeServer>(new EdgeServer(std::move(impl)));
}

EdgeServer::EdgeServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EdgeServer::~EdgeServer() {
    stop();
}

Status EdgeServer::start() {
    impl_->start_time = realtime_ns() / 1000000000;
    impl_->access_log->start();
    bool all_own = true;
    for (auto& w : impl_->workers) {
        w->start();
        all_own = all_own && w->own_fd_table();
    }
    impl_->listener_copies_open = true;
    if (impl_->cfg.fd_tables == "per-worker" && !all_own) {
        // Some worker shares the process's table after all: the limit is one table's.
        impl_->per_worker_tables = false;
        impl_->max_connections = impl_->connection_limit(*impl_->live);
        const uint32_t per_worker = std::max<uint32_t>(
            1, (impl_->max_connections.load() + impl_->cfg.workers - 1) / impl_->cfg.workers);
        for (auto& w : impl_->workers)
            w->post_config(impl_->live, per_worker);
        log::warn("edge: not every worker has a descriptor table of its own: at most {} "
                  "connections in all",
                  impl_->max_connections.load());
    }
    if (impl_->any_tls) {
        Impl* raw = impl_.get();
        raw->maintenance = std::thread([raw] {
            const int64_t period_ms = int64_t{raw->cfg.tls.ticket_key_rotation_s} * 1000;
            int64_t next = monotonic_ms() + period_ms;
            while (!raw->stopping.load()) {
                usleep(50000);
                if (monotonic_ms() >= next) {
                    raw->ticket_keys->rotate();
                    next = monotonic_ms() + period_ms;
                }
            }
        });
        const char* ktls = !impl_->cfg.tls.ktls
                               ? "off (tls.ktls = false): bodies are encrypted in user space"
                           : tls::ServerContext::kernel_has_ktls()
                               ? "on: the kernel encrypts bodies where it has the negotiated cipher"
                               : "not available (the kernel has no 'tls' module): bodies are "
                                 "encrypted in user space";
        log::info("edge: TLS certificates for {}; kernel TLS {}", impl_->tls_ctx->describe(), ktls);
    }
    const DiskConfig& d = impl_->cfg.disk;
    impl_->storage->start_monitor(d.health_interval_ms, d.stall_ms, d.inventory_interval_ms);
    std::string roots;
    for (size_t i = 0; i < impl_->storage->size(); ++i) {
        const io::Root& r = impl_->storage->root(i);
        auto inv = r.inventory();
        roots += fmt::format("{}{} ({}, {} files)", i ? ", " : "", r.path(),
                             io::tier_name(r.tier()), inv ? inv->files.size() : 0);
    }
    log::info("edge: roots {}; {} workers, congestion control {}, max {} connections "
              "(open-file limit {}), access log {}",
              roots, impl_->workers.size(), impl_->cc.empty() ? "system default" : impl_->cc,
              impl_->max_connections.load(), impl_->nofile, impl_->cfg.access_log);
    if (d.mode == "async")
        log::info("edge: disk reads never block a worker: residency {}, reads by {}, "
                  "read-ahead {} KiB, at most {} reads in flight per root",
                  impl_->residency, impl_->reader_name, d.readahead_kib, d.max_reads_per_root);
    else
        log::warn("edge: disk.mode = blocking: a page-cache miss stalls every connection of its "
                  "worker");
    if (!impl_->cfg.control.url.empty()) impl_->start_control();
    // Last: the admin thread reads what the lines above set up (the control link).
    if (impl_->admin) impl_->admin->start();
    return {};
}

void EdgeServer::Impl::start_control() {
    ControlClient::Hooks hooks;
    struct Sample {
        int64_t at_ns = 0;
        uint64_t bytes = 0;
        int64_t cpu_ns = 0;
    };
    auto last = std::make_shared<Sample>();
    hooks.report = [this, last]() {
        uint64_t bytes = 0, conns = 0;
        for (const auto& m : metrics) {
            bytes += m->bytes_sent.get();
            conns += m->connections_open.get();
        }
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        const int64_t cpu_ns = ts.tv_sec * 1000000000LL + ts.tv_nsec;
        const int64_t now = monotonic_ns();
        double gbps = 0, cpu = 0;
        if (last->at_ns && now > last->at_ns) {
            const double dt = static_cast<double>(now - last->at_ns) / 1e9;
            gbps = static_cast<double>(bytes - last->bytes) * 8 / 1e9 / dt;
            cpu = static_cast<double>(cpu_ns - last->cpu_ns) / 1e9 / dt;
        }
        *last = Sample{now, bytes, cpu_ns};
        wire::EdgeReport rep;
        size_t failed = 0;
        for (size_t i = 0; i < storage->size(); ++i) {
            const io::Root& r = storage->root(i);
            failed += !r.up();
            rep.disks.push_back(wire::DiskReport{static_cast<uint32_t>(i), r.path(),
                                                 io::tier_name(r.tier()), r.up() ? "up" : "failed",
                                                 r.up() ? "" : r.failure_reason()});
        }
        const std::string worker_failed = worker_failure();
        rep.healthy = failed < storage->size() && !draining.load() && worker_failed.empty();
        rep.reason = !worker_failed.empty()      ? worker_failed
                     : draining.load()           ? "draining"
                     : failed == storage->size() ? "every content root failed"
                     : failed
                         ? fmt::format("{} of {} content roots failed", failed, storage->size())
                         : "ok";
        rep.load = wire::Load{gbps, conns, cpu};
        rep.version = kVersion;
        rep.build = build_id();
        if (filler) rep.fill = filler->progress();
        return rep;
    };
    hooks.inventory = [this]() {
        std::vector<std::string> out;
        for (size_t i = 0; i < storage->size(); ++i) {
            const io::Root& r = storage->root(i);
            if (!r.up()) continue;
            auto inv = r.inventory();
            if (!inv) continue;
            for (const auto& kv : inv->files)
                out.push_back("/" + kv.first);
        }
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    };
    hooks.served = [this]() {
        std::vector<wire::Served> out;
        for (const auto& t : served) {
            std::vector<wire::Served> mine = t->take();
            out.insert(out.end(), std::make_move_iterator(mine.begin()),
                       std::make_move_iterator(mine.end()));
        }
        return out;
    };
    hooks.served_back = [this](const std::vector<wire::Served>& back) {
        if (!served.empty()) served.front()->put_back(back);
    };
    hooks.served_urgent = [this]() {
        for (const auto& t : served)
            if (t->half_full()) return true;
        return false;
    };
    hooks.keys = [this](std::vector<auth::SigningKey> k) {
        {
            std::lock_guard lk(keys_mu);
            control_keys = std::move(k);
        }
        publish_keys();
        control_keys_pending.store(false, std::memory_order_release); // after the mailboxes
        log::info("edge: signing keys from the control plane: {} valid", control_keys.size());
    };
    if (!cfg.fill.window.empty()) {
        fill::Filler::Options fo;
        fo.cfg = cfg.fill;
        fo.edge_id = cfg.control.id;
        fo.control_url = cfg.control.url;
        fo.control_ca = cfg.control.ca;
        while (!fo.control_url.empty() && fo.control_url.back() == '/')
            fo.control_url.pop_back();
        fill::Filler::Hooks fh;
        fh.control_token = [this]() { return control ? control->token() : std::string(); };
        auto f = fill::Filler::create(std::move(fo), storage.get(), std::move(fh));
        if (!f) {
            log::error("edge: fill disabled: {}", f.error().message);
        } else {
            filler = std::move(*f);
            hooks.manifest = [this](int64_t version, int64_t ack, uint32_t delay) {
                filler->on_manifest_info(version, ack, delay);
            };
        }
    }
    if (!cfg.bgp.bird_socket.empty()) {
        bgp::WatcherConfig bc;
        bc.socket = cfg.bgp.bird_socket;
        bc.poll_ms = cfg.bgp.poll_ms;
        bc.stale_ms = cfg.bgp.stale_ms;
        bgp_watcher = std::make_unique<bgp::Watcher>(std::move(bc));
        bgp_watcher->start();
        hooks.bgp = [this]() { return bgp_watcher->snapshot(); };
        log::info("edge: bgp: client prefixes from BIRD at {} (checked every {} ms)",
                  cfg.bgp.bird_socket, cfg.bgp.poll_ms);
    }
    control = std::make_unique<ControlClient>(cfg.control, std::move(hooks), &refuse_new_players);
    control->start();
    if (filler && !defer_fill) filler->start(); // after `control`: it asks it for the token
    log::info("edge: heartbeats to {} as {} every {} ms; new players refused after {} ms without "
              "it",
              cfg.control.url, cfg.control.id, cfg.control.heartbeat_interval_ms,
              cfg.control.grace_ms);
}

const std::vector<io::SocketAddress>& EdgeServer::listen_addresses() const {
    return impl_->listen_addrs;
}
const std::vector<io::SocketAddress>& EdgeServer::admin_addresses() const {
    return impl_->admin_addrs;
}
size_t EdgeServer::workers() const {
    return impl_->workers.size();
}
uint32_t EdgeServer::max_connections() const {
    return impl_->max_connections;
}

void EdgeServer::begin_drain() {
    impl_->draining.store(true);
    for (auto& w : impl_->workers)
        w->request_drain();
    impl_->close_listener_copies();
}

std::vector<std::pair<uint8_t, int>> EdgeServer::listener_fds() const {
    return impl_->handoff_fds;
}

int EdgeServer::admin_fd() const {
    return impl_->admin ? impl_->admin->listen_fd() : -1;
}

void EdgeServer::pause_accepting(bool paused) {
    for (auto& w : impl_->workers)
        w->request_pause(paused);
}

void EdgeServer::start_fill() {
    if (impl_->filler && impl_->defer_fill) {
        impl_->defer_fill = false;
        impl_->filler->start();
    }
}

void EdgeServer::stop_fill() {
    if (impl_->filler) impl_->filler->stop();
}

std::string EdgeServer::worker_failure() const {
    return impl_->worker_failure();
}

std::string EdgeServer::health_problem() const {
    if (std::string f = impl_->worker_failure(); !f.empty()) return f;
    if (impl_->draining.load()) return "draining";
    const std::string refusal = impl_->control ? impl_->control->refusal() : std::string();
    if (!refusal.empty()) return refusal;
    if (impl_->storage->up_count() == 0) return "no storage: every content root has failed";
    return {};
}

void EdgeServer::retire() {
    // Not the service any more (handed over, or a new process rolled back): nothing speaks for
    // the edge from here — no heartbeats saying "draining", no answers on the shared admin
    // socket, no fill.
    if (impl_->control) impl_->control->stop();
    if (impl_->filler) impl_->filler->stop();
    if (impl_->bgp_watcher) impl_->bgp_watcher->stop();
    if (impl_->admin) impl_->admin->stop();
}

void EdgeServer::count_upgrade(bool ok) {
    ++(ok ? impl_->upgrades_done : impl_->upgrades_failed);
}

bool EdgeServer::workers_alive() {
    bool alive = true;
    for (auto& w : impl_->workers)
        if (!w->finished() && w->pong() != impl_->ping_seq) alive = false;
    ++impl_->ping_seq;
    for (auto& w : impl_->workers)
        w->ping(impl_->ping_seq);
    return alive;
}

bool EdgeServer::wait(int64_t timeout_ms) {
    int64_t deadline = monotonic_ms() + timeout_ms;
    for (auto& w : impl_->workers) {
        while (!w->finished()) {
            if (monotonic_ms() > deadline) return false;
            usleep(2000);
        }
        w->join();
    }
    return true;
}

void EdgeServer::stop() {
    if (!impl_) return;
    if (impl_->control) impl_->control->stop();
    if (impl_->filler) impl_->filler->stop();
    if (impl_->bgp_watcher) impl_->bgp_watcher->stop();
    for (auto& w : impl_->workers)
        w->request_stop();
    for (auto& w : impl_->workers)
        w->join();
    impl_->close_listener_copies();
    if (impl_->admin) impl_->admin->stop();
    impl_->stopping.store(true);
    if (impl_->maintenance.joinable()) impl_->maintenance.join();
    impl_->access_log->stop();
    impl_->storage->stop_monitor();
}

void EdgeServer::reopen_logs() {
    impl_->access_log->reopen();
}

const std::vector<BoundListener>& EdgeServer::listeners() const {
    return impl_->bound;
}

Status EdgeServer::reload(std::optional<Result<EdgeConfig>> next) {
    // Everything or nothing per part: a file that fails to load keeps the old one in use.
    Status result;
    if (next && !*next) {
        std::string_view msg = next->error().message;
        while (!msg.empty()) {
            const size_t nl = std::min(msg.find('\n'), msg.size());
            log::error("edge: config not reloaded, the running one stays: {}", msg.substr(0, nl));
            msg.remove_prefix(std::min(msg.size(), nl + 1));
        }
        result = next->error();
    } else if (next) {
        // The file as a start would take it (a listener or root that would not start is an
        // error now, not at the next restart), the roots' disks aside: those cannot change
        // here, and a failed disk is the monitor's business.
        std::vector<std::string> restart;
        Status ok = validate(**next, /*check_roots=*/false);
        EdgeConfig merged;
        if (ok) {
            merged = live_update(*impl_->live, impl_->configured_workers, **next, &restart);
            ok = validate(merged, /*check_roots=*/false);
        }
        if (!ok) {
            log::error("edge: config not reloaded, the running one stays: {}", ok.error().message);
            result = ok;
        } else {
            if (!restart.empty())
                log::warn("edge: SIGHUP: these settings need a restart and keep their running "
                          "values until then: {}",
                          fmt::join(restart, ", "));
            if (Status roots = validate(**next); !roots)
                log::warn("edge: the config's roots would not start as they are: {}",
                          roots.error().message);
            auto snap = std::make_shared<const EdgeConfig>(std::move(merged));
            impl_->live = snap;
            impl_->max_connections = impl_->connection_limit(*snap);
            const uint32_t per_worker = std::max<uint32_t>(
                1, (impl_->max_connections.load() + snap->workers - 1) / snap->workers);
            for (auto& w : impl_->workers)
                w->post_config(snap, per_worker);
            log::Level lvl;
            if (log::parse_level(snap->log_level, &lvl)) log::set_level(lvl);
            if (impl_->filler) impl_->filler->set_config(snap->fill);
            log::info("edge: config reloaded: limits, timeouts, cache policy, CORS, Host names, "
                      "signed-URL rules, fill window and rate, log level {}; max {} connections",
                      snap->log_level, impl_->max_connections.load());
        }
    }
    const EdgeConfig& cfg = *impl_->live;
    if (impl_->any_tls) {
        auto ctx = impl_->build_tls(cfg);
        if (ctx) {
            impl_->tls_ctx = std::move(*ctx);
            for (auto& w : impl_->workers)
                w->post_tls(impl_->tls_ctx);
            log::info("edge: TLS certificates reloaded: {}", impl_->tls_ctx->describe());
        } else {
            log::error("edge: TLS certificates not reloaded, the old ones stay in use: {}",
                       ctx.error().message);
            result = ctx.error();
        }
    }
    if (!cfg.signing_keys.empty()) {
        auto ks = auth::KeySet::load(cfg.signing_keys);
        if (ks) {
            {
                std::lock_guard lk(impl_->keys_mu);
                impl_->file_keys = ks->keys();
            }
            impl_->publish_keys();
            log::info("edge: signing keys reloaded: {} keys", ks->size());
        } else {
            log::error("edge: signing keys not reloaded, the old ones stay in use: {}",
                       ks.error().message);
            result = ks.error();
        }
    } else if (!impl_->file_keys.empty()) {
        {
            std::lock_guard lk(impl_->keys_mu);
            impl_->file_keys.clear();
        }
        impl_->publish_keys();
        log::info("edge: signing_keys removed from the config: only the control plane's keys");
    }
    if (impl_->control && !impl_->cfg.control.token_file.empty()) {
        ControlLinkConfig c = impl_->cfg.control;
        if (Status s = resolve_token(&c); s) {
            impl_->control->set_token(std::move(c.token));
            log::info("edge: control token re-read from {}", c.token_file);
        } else {
            log::error("edge: control token not re-read, the old one stays in use: {}",
                       s.error().message);
            result = s;
        }
    }
    // Counted last: a reader that sees the count sees the reload done.
    if (!result) ++impl_->reload_failures;
    ++impl_->reloads;
    return result;
}

std::shared_ptr<const EdgeConfig> EdgeServer::config() const {
    return impl_->live;
}

std::string EdgeServer::metrics_text() const {
    return impl_->render_metrics();
}

std::string EdgeServer::Impl::render_metrics() const {
    PromText out;
    // A counter or gauge per worker, read with `get` from each worker's metrics.
    auto per_worker = [&](const char* name, const char* type, const char* help, auto get) {
        out.family(name, type, help);
        for (size_t w = 0; w < metrics.size(); ++w)
            out.sample(name, {{"worker", w}}, get(*metrics[w]));
    };
    // One family with a second label: `values` are (label value, getter) pairs.
    auto per_worker_by = [&](const char* name, const char* type, const char* help,
                             const char* label, auto values) {
        out.family(name, type, help);
        for (size_t w = 0; w < metrics.size(); ++w)
            for (const auto& [v, get] : values)
                out.sample(name, {{"worker", w}, {label, v}}, get(*metrics[w]));
    };
    using Get = uint64_t (*)(const WorkerMetrics&);
    auto histogram = [&](const char* name, const char* help, auto get) {
        out.family(name, "histogram", help);
        for (size_t w = 0; w < metrics.size(); ++w) {
            const Histogram& h = get(*metrics[w]);
            std::array<uint64_t, kDurationBuckets.size() + 1> counts{};
            for (size_t b = 0; b < counts.size(); ++b)
                counts[b] = h.buckets[b].get();
            out.histogram(name, {{"worker", w}}, kDurationBuckets, counts,
                          static_cast<double>(h.sum_us.get()) / 1e6);
        }
    };
    out.family("vcdn_build_info", "gauge", "vcdn version.")
        .sample("vcdn_build_info", {{"version", kVersion}, {"build", build_id()}}, 1);
    out.family("vcdn_start_time_seconds", "gauge", "Unix time the edge started.")
        .sample("vcdn_start_time_seconds", start_time);
    out.family("vcdn_draining", "gauge", "1 while the edge drains before exit.")
        .sample("vcdn_draining", draining.load() ? 1 : 0);
    out.family("vcdn_max_connections", "gauge", "Connection limit of the process.")
        .sample("vcdn_max_connections", max_connections.load());
    out.family("vcdn_edge_upgrades_total", "counter",
               "Upgrades: done, 1 in the process an upgrade brought in once the old one handed "
               "over; rolled_back, in the process that kept serving because the new one failed "
               "to come up or to stay healthy.")
        .sample("vcdn_edge_upgrades_total", {{"result", "done"}}, upgrades_done.load())
        .sample("vcdn_edge_upgrades_total", {{"result", "rolled_back"}}, upgrades_failed.load());
    out.family("vcdn_edge_reloads_total", "counter",
               "SIGHUPs: the config file and the files it names read again.")
        .sample("vcdn_edge_reloads_total", reloads.load());
    out.family("vcdn_edge_reload_failures_total", "counter",
               "SIGHUPs where a part failed (a bad config file, keys, certificates or token) "
               "and its running version stayed in use.")
        .sample("vcdn_edge_reload_failures_total", reload_failures.load());
    out.family("vcdn_open_files_limit", "gauge", "RLIMIT_NOFILE of the process.")
        .sample("vcdn_open_files_limit", nofile);
    if (control) {
        out.family("vcdn_control_connected", "gauge",
                   "1 while the last heartbeat to the control plane succeeded.")
            .sample("vcdn_control_connected", control->connected() ? 1 : 0);
        out.family("vcdn_control_link", "gauge",
                   "The control link's state: 1 for the current one (ok, unreachable, refused: "
                   "heartbeats answered no, removed: the fleet has no edge of this id).");
        for (auto l : {ControlClient::Link::kStarting, ControlClient::Link::kOk,
                       ControlClient::Link::kUnreachable, ControlClient::Link::kRefused,
                       ControlClient::Link::kRemoved})
            out.sample("vcdn_control_link", {{"state", ControlClient::link_name(l)}},
                       control->link() == l ? 1 : 0);
        out.family("vcdn_control_heartbeats_total", "counter", "Heartbeats sent, by result.")
            .sample("vcdn_control_heartbeats_total", {{"result", "ok"}}, control->heartbeats_ok())
            .sample("vcdn_control_heartbeats_total", {{"result", "failed"}},
                    control->heartbeats_failed());
        out.family("vcdn_control_heartbeat_bytes_total", "counter",
                   "Bytes of heartbeat request bodies sent (BGP changes and inventory included).")
            .sample("vcdn_control_heartbeat_bytes_total", control->heartbeat_bytes());
        out.family("vcdn_control_bgp_changes_total", "counter",
                   "BGP route changes (upserts and removals) the control plane acknowledged.")
            .sample("vcdn_control_bgp_changes_total", control->bgp_changes_acked());
        uint64_t dropped = 0;
        for (const auto& t : served)
            dropped += t->dropped_bytes();
        out.family("vcdn_served_uncounted_bytes_total", "counter",
                   "Body bytes served that no heartbeat reports: more (file, client network) "
                   "pairs within one heartbeat interval than it carries.")
            .sample("vcdn_served_uncounted_bytes_total", dropped);
        out.family("vcdn_refusing_new_players", "gauge",
                   "1 while new players are refused: no control plane for longer than grace_ms.")
            .sample("vcdn_refusing_new_players", refuse_new_players.load() != 0 ? 1 : 0);
    }
    per_worker("vcdn_new_players_refused_total", "counter",
               "Requests answered 503 because the control plane was out of reach (or had not yet "
               "given its signing keys).",
               [](const WorkerMetrics& m) { return m.refused_no_control.get(); });

    out.family("vcdn_http_responses_total", "counter", "HTTP responses by status code.");
    for (size_t w = 0; w < metrics.size(); ++w)
        for (size_t st = 0; st <= kStatusSlots; ++st)
            out.sample("vcdn_http_responses_total",
                       {{"worker", w},
                        {"code", st == kStatusSlots ? std::string("other")
                                                    : std::to_string(kTrackedStatuses[st])}},
                       metrics[w]->responses_by_status[st].get());
    per_worker("vcdn_sent_bytes_total", "counter",
               "Bytes written to client sockets (heads and bodies).",
               [](const WorkerMetrics& m) { return m.bytes_sent.get(); });
    per_worker("vcdn_sent_body_bytes_total", "counter", "File body bytes sent with sendfile.",
               [](const WorkerMetrics& m) { return m.body_bytes_sent.get(); });
    per_worker("vcdn_connections_open", "gauge", "Client connections open now.",
               [](const WorkerMetrics& m) { return m.connections_open.get(); });
    per_worker("vcdn_connections_accepted_total", "counter", "Client connections accepted.",
               [](const WorkerMetrics& m) { return m.connections_accepted.get(); });
    per_worker_by(
        "vcdn_connections_refused_total", "counter",
        "Connections answered 503 and closed: over max_connections, out of file descriptors, "
        "or over max_connections_per_client.",
        "reason",
        std::initializer_list<std::pair<const char*, Get>>{
            {"limit", [](const WorkerMetrics& m) { return m.connections_refused_limit.get(); }},
            {"client", [](const WorkerMetrics& m) { return m.connections_refused_client.get(); }},
            {"nofile", [](const WorkerMetrics& m) { return m.connections_refused_nofile.get(); }}});
    per_worker("vcdn_sendfile_errors_total", "counter",
               "sendfile() failures other than a closed peer (disk errors, files that shrank).",
               [](const WorkerMetrics& m) { return m.sendfile_errors.get(); });
    per_worker("vcdn_send_errors_total", "counter",
               "Connections lost while sending (reset, broken pipe).",
               [](const WorkerMetrics& m) { return m.send_errors.get(); });
    per_worker_by("vcdn_timeouts_total", "counter", "Connections closed by a timeout, by kind.",
                  "kind",
                  std::initializer_list<std::pair<const char*, Get>>{
                      {"header", [](const WorkerMetrics& m) { return m.timeouts_header.get(); }},
                      {"idle", [](const WorkerMetrics& m) { return m.timeouts_idle.get(); }},
                      {"send", [](const WorkerMetrics& m) { return m.timeouts_send.get(); }},
                      {"slow", [](const WorkerMetrics& m) { return m.timeouts_slow.get(); }}});
    per_worker("vcdn_pipelined_requests_total", "counter",
               "Requests found already buffered behind the previous one.",
               [](const WorkerMetrics& m) { return m.pipelined_requests.get(); });
    per_worker("vcdn_file_cache_hits_total", "counter", "Open-file cache hits.",
               [](const WorkerMetrics& m) { return m.file_cache_hits.get(); });
    per_worker("vcdn_file_cache_misses_total", "counter", "Open-file cache misses (file opened).",
               [](const WorkerMetrics& m) { return m.file_cache_misses.get(); });
    per_worker("vcdn_file_cache_entries", "gauge", "Files held open by the cache.",
               [](const WorkerMetrics& m) { return m.file_cache_entries.get(); });
    per_worker("vcdn_access_log_dropped_total", "counter",
               "Access log lines dropped because the writer fell behind.",
               [](const WorkerMetrics& m) { return m.access_log_dropped.get(); });
    histogram("vcdn_http_request_duration_seconds",
              "Time from a complete request head to the last response byte handed to the kernel.",
              [](const WorkerMetrics& m) -> const Histogram& { return m.request_duration; });

    per_worker("vcdn_tls_handshakes_total", "counter", "TLS handshakes completed.",
               [](const WorkerMetrics& m) { return m.tls_handshakes.get(); });
    per_worker("vcdn_tls_handshake_failures_total", "counter", "TLS handshakes that failed.",
               [](const WorkerMetrics& m) { return m.tls_handshake_failures.get(); });
    per_worker("vcdn_tls_resumed_total", "counter", "TLS handshakes that resumed a session.",
               [](const WorkerMetrics& m) { return m.tls_resumed.get(); });
    per_worker("vcdn_tls_handshakes_deferred_total", "counter",
               "Handshake steps put off to the next loop turn (handshakes_per_turn reached).",
               [](const WorkerMetrics& m) { return m.tls_handshakes_deferred.get(); });
    per_worker_by(
        "vcdn_tls_responses_total", "counter",
        "HTTPS responses with a body, by how it was encrypted: by the kernel (kTLS) or by vcdn.",
        "path",
        std::initializer_list<std::pair<const char*, Get>>{
            {"ktls", [](const WorkerMetrics& m) { return m.tls_responses_ktls.get(); }},
            {"userspace", [](const WorkerMetrics& m) { return m.tls_responses_user.get(); }}});
    per_worker_by(
        "vcdn_tls_body_bytes_total", "counter", "HTTPS body bytes, by encryption path.", "path",
        std::initializer_list<std::pair<const char*, Get>>{
            {"ktls", [](const WorkerMetrics& m) { return m.tls_body_bytes_ktls.get(); }},
            {"userspace", [](const WorkerMetrics& m) { return m.tls_body_bytes_user.get(); }}});
    per_worker("vcdn_tls_mapped_body_bytes_total", "counter",
               "User-space HTTPS body bytes encrypted straight from the file's mapping "
               "(tls.map_bodies).",
               [](const WorkerMetrics& m) { return m.tls_body_bytes_mapped.get(); });
    per_worker("vcdn_tls_mapped_read_faults_total", "counter",
               "HTTPS bodies cut short because the file's mapping could not supply their bytes: "
               "a page that could not be read (SIGBUS caught: the file shrank, a read error, a "
               "memory error) or a file found shorter than the response; each ended its "
               "connection.",
               [](const WorkerMetrics& m) { return m.tls_mapped_faults.get(); });
    histogram("vcdn_tls_handshake_seconds", "From a TLS connection's accept to its handshake done.",
              [](const WorkerMetrics& m) -> const Histogram& { return m.tls_handshake; });
    out.family("vcdn_tls_ticket_key_rotations_total", "counter", "Session ticket key rotations.")
        .sample("vcdn_tls_ticket_key_rotations_total", ticket_keys->rotations());

    out.family("vcdn_signed_url_refusals_total", "counter",
               "Requests refused (403) on a listener that requires signed URLs, by reason.");
    static const char* const kSigReasons[] = {"ok",     "missing", "malformed",    "unknown_key",
                                              "forged", "expired", "wrong_prefix", "too_long"};
    for (size_t w = 0; w < metrics.size(); ++w)
        for (size_t r = 1; r < std::size(kSigReasons); ++r)
            out.sample("vcdn_signed_url_refusals_total",
                       {{"worker", w}, {"reason", kSigReasons[r]}},
                       metrics[w]->signed_url_refusals[r].get());

    // Disk.
    per_worker_by("vcdn_pagecache_checks_total", "counter",
                  "Residency checks before sending file data (one per range up to 2 MiB): hit = "
                  "in memory, miss = an asynchronous read was started.",
                  "result",
                  std::initializer_list<std::pair<const char*, Get>>{
                      {"hit", [](const WorkerMetrics& m) { return m.pagecache_hits.get(); }},
                      {"miss", [](const WorkerMetrics& m) { return m.pagecache_misses.get(); }}});
    per_worker_by(
        "vcdn_residency_answers_total", "counter",
        "Questions whether a range is in the page cache, by who answered: memory = "
        "the worker's memory of blocks found resident, kernel = mincore.",
        "by",
        std::initializer_list<std::pair<const char*, Get>>{
            {"memory", [](const WorkerMetrics& m) { return m.residency_remembered.get(); }},
            {"kernel", [](const WorkerMetrics& m) { return m.residency_asked.get(); }}});
    if (reclaim && reclaim->recheck()) {
        out.family("vcdn_residency_suspicions_total", "counter",
                   "Falls of the page cache's file pages with no reclaim counted (a deletion, "
                   "proactive reclaim): each slot learnt before one is looked at again.")
            .sample("vcdn_residency_suspicions_total", reclaim->suspicions());
        per_worker_by(
            "vcdn_residency_looks_total", "counter",
            "Remembered slots looked at again (cachestat) because the page cache's file pages "
            "fell with no reclaim counted, by result: kept = still wholly cached, lost = not "
            "(the range was asked of mincore and the slot learnt again).",
            "result",
            std::initializer_list<std::pair<const char*, Get>>{
                {"kept", [](const WorkerMetrics& m) { return m.residency_looks_kept.get(); }},
                {"lost", [](const WorkerMetrics& m) { return m.residency_looks_lost.get(); }}});
    }
    if (reclaim)
        out.family("vcdn_residency_forgotten_total", "counter",
                   "Times the workers' memory of resident blocks was dropped because the "
                   "kernel's counters showed pages taken out of the page cache.")
            .sample("vcdn_residency_forgotten_total", reclaim->changes());
    per_worker("vcdn_disk_reads_total", "counter", "Reads into the page cache started.",
               [](const WorkerMetrics& m) { return m.disk_reads.get(); });
    per_worker("vcdn_disk_readaheads_total", "counter",
               "Read-ahead pieces (128 KiB) read in front of streams.",
               [](const WorkerMetrics& m) { return m.disk_readaheads.get(); });
    per_worker("vcdn_disk_read_bytes_total", "counter", "Bytes read into the page cache.",
               [](const WorkerMetrics& m) { return m.disk_read_bytes.get(); });
    per_worker("vcdn_disk_read_errors_total", "counter", "Reads that failed.",
               [](const WorkerMetrics& m) { return m.disk_read_errors.get(); });
    per_worker("vcdn_disk_reads_in_flight", "gauge", "Reads submitted and not yet complete.",
               [](const WorkerMetrics& m) { return m.disk_reads_inflight.get(); });
    per_worker("vcdn_disk_reads_queued", "gauge",
               "Reads waiting for a slot (max_reads_per_root reached).",
               [](const WorkerMetrics& m) { return m.disk_reads_queued.get(); });
    per_worker("vcdn_lost_file_requests_total", "counter",
               "Requests answered 503 because the file was on a failed root.",
               [](const WorkerMetrics& m) { return m.lost_file_requests.get(); });
    histogram("vcdn_disk_read_seconds", "Latency of reads into the page cache.",
              [](const WorkerMetrics& m) -> const Histogram& { return m.disk_read; });

    out.family("vcdn_root_up", "gauge", "1 while a content root is in use, 0 once it has failed.");
    for (size_t i = 0; i < storage->size(); ++i) {
        const io::Root& r = storage->root(i);
        out.sample("vcdn_root_up",
                   {{"root", i}, {"path", r.path()}, {"tier", io::tier_name(r.tier())}},
                   r.up() ? 1 : 0);
    }
    out.family("vcdn_root_files", "gauge", "Files on a content root at its last scan.");
    for (size_t i = 0; i < storage->size(); ++i) {
        auto inv = storage->root(i).inventory();
        out.sample("vcdn_root_files", {{"root", i}}, inv ? inv->files.size() : 0);
    }
    out.family("vcdn_root_read_errors_total", "counter", "I/O errors seen on a content root.");
    for (size_t i = 0; i < storage->size(); ++i)
        out.sample("vcdn_root_read_errors_total", {{"root", i}},
                   storage->root(i).read_errors.load());
    out.family("vcdn_lost_files", "gauge",
               "Files that were on failed roots and are on no root that is up (see /storage).")
        .sample("vcdn_lost_files", storage->lost_files().size());
    if (filler) filler->metrics(out);
    if (bgp_watcher) bgp_watcher->metrics(out);
    return out.take();
}

} // namespace vcdn::edge
