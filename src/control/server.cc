#include <vcdn/control/server.h>

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <set>
#include <thread>
#include <unordered_set>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>
#include <vcdn/io/address.h>
#include <vcdn/io/tcp.h>
#include <vcdn/tls/server_context.h>

#include "api.h"
#include "service.h"

namespace vcdn::control {

bool follows_manifest(const EdgeStatus& st) {
    return st.report.fill && st.report.fill->enabled;
}

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

namespace {

// A first signing key, so that a new fleet can steer at once; rotate through the API.
Status ensure_signing_key(Store* store) {
    auto keys = store->keys();
    if (!keys) return keys.error();
    for (const KeyRecord& k : *keys)
        if (!k.retired) return {};
    unsigned char secret[32];
    if (RAND_bytes(secret, sizeof secret) != 1) return Error{"RAND_bytes failed"};
    std::string id = fmt::format("k{}", wall_ms() / 1000);
    Status s = store->add_key(
        id,
        auth::encode_hex(std::string_view(reinterpret_cast<const char*>(secret), sizeof secret)),
        wall_ms());
    if (!s) {
        // Another control instance may have made one at the same moment.
        auto again = store->keys();
        if (again)
            for (const KeyRecord& k : *again)
                if (!k.retired) return {};
        return s;
    }
    log::info("control: made signing key {} (rotate with POST /api/v1/keys/rotate)", id);
    return {};
}

} // namespace

Result<std::unique_ptr<Service>> Service::open(const ControlConfig& cfg) {
    auto svc = std::make_unique<Service>();
    svc->cfg = cfg;
    auto trusted = trusted_prefixes(cfg);
    if (!trusted) return trusted.error();
    auto proxies_or = proxy_prefixes(cfg);
    if (!proxies_or) return proxies_or.error();
    svc->trusted = std::move(*trusted);
    svc->proxies = std::move(*proxies_or);
    if (!cfg.steering.session_keys.empty()) {
        auto keys = auth::KeySet::load(cfg.steering.session_keys);
        if (!keys) return Error{fmt::format("steering.session_keys: {}", keys.error().message)};
        svc->session_keys.store(std::make_shared<const auth::KeySet>(std::move(*keys)));
    }
    auto store = Store::open(cfg.db);
    if (!store) return store.error();
    svc->store = std::move(*store);
    if (!cfg.fleet.empty()) {
        auto fleet = load_fleet_file(cfg.fleet);
        if (!fleet) return fleet.error();
        if (Status s = svc->store->save_fleet(*fleet); !s)
            return Error{fmt::format("fleet {}: {}", cfg.fleet, s.error().message)};
    }
    if (Status s = ensure_signing_key(svc->store.get()); !s)
        return Error{fmt::format("signing key: {}", s.error().message)};
    svc->threads = cfg.threads ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
    svc->view_cache.resize(svc->threads);
    for (uint32_t i = 0; i < svc->threads; ++i)
        svc->steer_stats.push_back(std::make_unique<Service::SteerStats>());
    auto slog = io::AccessLog::open(cfg.steering_log, svc->threads);
    if (!slog) return Error{fmt::format("steering log: {}", slog.error().message)};
    svc->steering_log = std::move(*slog);
    svc->manifests = std::make_unique<ManifestCache>(cfg.play);
    if (!svc->sync_once()) return Error{"database: the first read failed (see the log)"};
    return svc;
}

struct ControlServer::Impl {
    std::unique_ptr<Service> svc;
    // One service per listener: public (players), edge, admin; the last two only when their
    // addresses are configured (their routes are on the public listener otherwise).
    struct Listener {
        const char* name;
        unsigned surfaces;
        bool tls = false;
        std::shared_ptr<io::Router> router;
        std::unique_ptr<io::HttpService> http;
    };
    std::vector<Listener> listeners;
    // The certificate in use; new connections take the current one (SIGHUP reloads it).
    std::mutex tls_mu;
    std::shared_ptr<const tls::ServerContext> tls;
    std::shared_ptr<tls::TicketKeys> ticket_keys = std::make_shared<tls::TicketKeys>();

    Result<std::shared_ptr<const tls::ServerContext>> load_tls() const {
        const ControlTls& t = svc->cfg.tls;
        tls::ServerOptions o;
        o.certs = {tls::CertFiles{t.cert, t.key}};
        o.ktls = false; // API answers are small: user-space TLS
        auto ctx = tls::ServerContext::build(o, ticket_keys);
        if (!ctx) return ctx.error();
        return std::shared_ptr<const tls::ServerContext>(std::move(*ctx));
    }
};

Result<std::unique_ptr<ControlServer>> ControlServer::create(const ControlConfig& cfg) {
    auto impl = std::make_unique<Impl>();
    auto svc = Service::open(cfg);
    if (!svc) return svc.error();
    impl->svc = std::move(*svc);
    if (!cfg.tls.cert.empty()) {
        auto ctx = impl->load_tls();
        if (!ctx) return Error{fmt::format("tls: {}", ctx.error().message)};
        impl->tls = std::move(*ctx);
    }
    // Keep-alive API clients and edges each hold a descriptor: use what the hard limit allows,
    // and stay under it (the database, logs and listeners need some too).
    const uint64_t nofile = io::raise_nofile_limit();
    unsigned public_surfaces = kPublic;
    if (cfg.edge_listen.empty()) public_surfaces |= kEdge;
    if (cfg.admin_listen.empty()) public_surfaces |= kAdmin;
    impl->listeners.push_back({"public", public_surfaces, false, nullptr, nullptr});
    if (!cfg.edge_listen.empty())
        impl->listeners.push_back({"edge", kEdge, false, nullptr, nullptr});
    if (!cfg.admin_listen.empty())
        impl->listeners.push_back({"admin", kAdmin, false, nullptr, nullptr});
    Impl* raw = impl.get();
    for (Impl::Listener& l : impl->listeners) {
        const std::string& where = std::string(l.name) == "edge"    ? cfg.edge_listen
                                   : std::string(l.name) == "admin" ? cfg.admin_listen
                                                                    : cfg.listen;
        auto addr = io::parse_socket_address(where);
        if (!addr) return Error{fmt::format("{} listen: {}", l.name, addr.error().message)};
        io::HttpServiceOptions ho;
        ho.threads = impl->svc->threads;
        ho.trusted_proxies = impl->svc->proxies;
        ho.blocking_threads = 4; // the database serializes most of it; 4 keep reads moving
        if (l.surfaces & kPublic) {
            // Anyone can reach it: per-address limits, but for the trusted front ends.
            ho.per_client.connections = cfg.limits.public_connections;
            ho.per_client.requests_per_s = cfg.limits.public_requests_per_s;
            ho.per_client.burst = 2 * cfg.limits.public_requests_per_s;
            ho.per_client.exempt = impl->svc->trusted;
            ho.proxy_protocol = cfg.limits.proxy_protocol;
        }
        ho.max_connections = static_cast<uint32_t>(std::clamp<uint64_t>(
            nofile > 128 ? (nofile - 64) / impl->listeners.size() : 64, 64, 100000));
        // A listener that carries the edge's or admin's calls speaks TLS when either does.
        const auto& tl = cfg.tls.listeners;
        auto wants = [&](const char* n) { return std::find(tl.begin(), tl.end(), n) != tl.end(); };
        const bool tls_here = (l.surfaces & kPublic && wants("public")) ||
                              (l.surfaces & kEdge && wants("edge")) ||
                              (l.surfaces & kAdmin && wants("admin"));
        l.tls = impl->tls && tls_here;
        if (l.tls)
            ho.tls = [raw](int fd) -> ssl_st* {
                std::shared_ptr<const tls::ServerContext> ctx;
                {
                    std::lock_guard lk(raw->tls_mu);
                    ctx = raw->tls;
                }
                return ctx->new_ssl(fd);
            };
        l.router = make_router(*impl->svc, l.surfaces);
        auto http = io::HttpService::listen(*addr, l.router, ho, fmt::format("ctl-{}", l.name));
        if (!http) return Error{fmt::format("{} listener: {}", l.name, http.error().message)};
        l.http = std::move(*http);
    }
    impl->svc->listener_metrics = [raw](PromText& out) {
        out.family("vcdn_control_refused_total", "counter",
                   "Requests and connections a listener refused before any handler: per-address "
                   "limits (rate, connections), a full worker queue, failed TLS handshakes, "
                   "connections from a proxy without a valid PROXY protocol header.");
        for (const Impl::Listener& l : raw->listeners) {
            const io::HttpService& h = *l.http;
            out.sample("vcdn_control_refused_total", {{"listener", l.name}, {"reason", "rate"}},
                       h.client_rate_refusals());
            out.sample("vcdn_control_refused_total",
                       {{"listener", l.name}, {"reason", "connections"}},
                       h.client_connection_refusals());
            out.sample("vcdn_control_refused_total", {{"listener", l.name}, {"reason", "busy"}},
                       h.busy_refusals());
            out.sample("vcdn_control_refused_total", {{"listener", l.name}, {"reason", "tls"}},
                       h.tls_handshake_failures());
            out.sample("vcdn_control_refused_total", {{"listener", l.name}, {"reason", "proxy"}},
                       h.proxy_header_failures());
        }
    };
    return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() {
    stop();
}

const io::SocketAddress& ControlServer::address() const {
    return impl_->listeners[0].http->address();
}

std::vector<ControlServer::ListenerInfo> ControlServer::listeners() const {
    std::vector<ListenerInfo> out;
    for (const Impl::Listener& l : impl_->listeners)
        out.push_back(ListenerInfo{l.name, l.http->address(), l.tls});
    return out;
}

Status ControlServer::reload_tls() {
    if (!impl_->tls) return {};
    auto ctx = impl_->load_tls();
    if (!ctx) {
        log::error("control: TLS certificate not reloaded, the old one stays in use: {}",
                   ctx.error().message);
        impl_->svc->reload_failures.fetch_add(1);
        return ctx.error();
    }
    {
        std::lock_guard lk(impl_->tls_mu);
        impl_->tls = std::move(*ctx);
    }
    log::info("control: TLS certificate reloaded ({})", impl_->svc->cfg.tls.cert);
    return {};
}

Status ControlServer::reload_session_keys() {
    const std::string& path = impl_->svc->cfg.steering.session_keys;
    if (path.empty()) return {};
    auto keys = auth::KeySet::load(path);
    if (!keys) {
        log::error("control: session keys not reloaded, the old ones stay in use: {}",
                   keys.error().message);
        impl_->svc->reload_failures.fetch_add(1);
        return keys.error();
    }
    const size_t n = keys->size();
    impl_->svc->session_keys.store(std::make_shared<const auth::KeySet>(std::move(*keys)));
    log::info("control: {} session key(s) reloaded ({})", n, path);
    return {};
}

Status ControlServer::start() {
    Service& s = *impl_->svc;
    s.steering_log->start();
    s.sync_thread = std::thread([&s] { s.sync_loop(); });
    for (Impl::Listener& l : impl_->listeners)
        l.http->start();
    auto v = s.current();
    size_t edges = v ? v->topo->edges.size() : 0;
    log::info("control: {} sites, {} edges, {} catalog files; database {}; API on http://{}",
              v ? v->fleet->sites.size() : 0, edges, v ? v->catalog_files : 0, s.store->describe(),
              address().to_string());
    return {};
}

void ControlServer::stop() {
    if (!impl_) return;
    for (Impl::Listener& l : impl_->listeners)
        if (l.http) l.http->stop();
    Service& s = *impl_->svc;
    {
        std::lock_guard lk(s.sync_mu);
        s.stopping = true;
    }
    s.sync_cv.notify_all();
    if (s.sync_thread.joinable()) s.sync_thread.join();
    if (s.steering_log) s.steering_log->stop();
}

void ControlServer::reopen_logs() {
    if (impl_->svc->steering_log) impl_->svc->steering_log->reopen();
}

int64_t ControlServer::sync_stalled_ms() const {
    const int64_t t = impl_->svc->sync_turn_ms.load(std::memory_order_relaxed);
    return t ? monotonic_ms() - t : 0;
}

Status ControlServer::reload_fleet() {
    Service& svc = *impl_->svc;
    if (svc.cfg.fleet.empty()) return {};
    auto fleet = load_fleet_file(svc.cfg.fleet);
    if (!fleet) {
        log::error("control: fleet reload failed, keeping the current fleet: {}",
                   fleet.error().message);
        svc.reload_failures.fetch_add(1);
        return fleet.error();
    }
    // Make-before-break: a file that removes edges which alone hold files is not applied
    // (drain them first; the API's ?force=1 is the way to do it anyway).
    const auto v = svc.current();
    const std::set<std::string> gone = removed_edges(*v->fleet, *fleet);
    if (const SoleCopies sc = sole_copies(*v, gone); sc.files > 0) {
        log::error("control: fleet reload refused, keeping the current fleet: it removes {} "
                   "edge(s) ({}...) that alone hold {} file(s) ({} bytes, e.g. {}); drain them "
                   "first and remove them once GET /api/v1/edges/<id> shows no sole_copies",
                   gone.size(), *gone.begin(), sc.files, sc.bytes, sc.sample.front());
        svc.reload_failures.fetch_add(1);
        return Error{"the fleet removes edges that alone hold files"};
    }
    if (Status s = svc.store->save_fleet(*fleet); !s) {
        log::error("control: fleet reload failed: {}", s.error().message);
        svc.reload_failures.fetch_add(1);
        return s;
    }
    log::info("control: fleet {} applied", svc.cfg.fleet);
    svc.sync_once();
    return {};
}

} // namespace vcdn::control
