#include <vcdn/control/server.h>

#include <openssl/rand.h>

#include <chrono>
#include <fmt/format.h>
#include <set>
#include <thread>
#include <unordered_set>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>
#include <vcdn/io/address.h>
#include <vcdn/io/tcp.h>

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
    if (!svc->sync_once()) return Error{"database: the first read failed (see the log)"};
    return svc;
}

struct ControlServer::Impl {
    std::unique_ptr<Service> svc;
    std::shared_ptr<io::Router> router;
    std::unique_ptr<io::HttpService> http;
};

Result<std::unique_ptr<ControlServer>> ControlServer::create(const ControlConfig& cfg) {
    auto addr = io::parse_socket_address(cfg.listen);
    if (!addr) return Error{fmt::format("listen: {}", addr.error().message)};
    auto impl = std::make_unique<Impl>();
    auto svc = Service::open(cfg);
    if (!svc) return svc.error();
    impl->svc = std::move(*svc);
    // Keep-alive API clients and edges each hold a descriptor: use what the hard limit allows,
    // and stay under it (the database, logs and listeners need some too).
    const uint64_t nofile = io::raise_nofile_limit();
    io::HttpServiceOptions ho;
    ho.threads = impl->svc->threads;
    ho.max_connections =
        static_cast<uint32_t>(std::clamp<uint64_t>(nofile > 128 ? nofile - 64 : 64, 64, 100000));
    impl->router = make_router(*impl->svc);
    auto http = io::HttpService::listen(*addr, impl->router, ho, "control");
    if (!http) return Error{fmt::format("listen {}: {}", cfg.listen, http.error().message)};
    impl->http = std::move(*http);
    return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControlServer::~ControlServer() {
    stop();
}

const io::SocketAddress& ControlServer::address() const {
    return impl_->http->address();
}

Status ControlServer::start() {
    Service& s = *impl_->svc;
    s.steering_log->start();
    s.sync_thread = std::thread([&s] { s.sync_loop(); });
    impl_->http->start();
    auto v = s.current();
    size_t edges = v ? v->topo->edges.size() : 0;
    log::info("control: {} sites, {} edges, {} catalog files; database {}; API on http://{}",
              v ? v->fleet->sites.size() : 0, edges, v ? v->catalog_files : 0, s.store->describe(),
              address().to_string());
    return {};
}

void ControlServer::stop() {
    if (!impl_) return;
    if (impl_->http) impl_->http->stop();
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

Status ControlServer::reload_fleet() {
    Service& svc = *impl_->svc;
    if (svc.cfg.fleet.empty()) return {};
    auto fleet = load_fleet_file(svc.cfg.fleet);
    if (!fleet) {
        log::error("control: fleet reload failed, keeping the current fleet: {}",
                   fleet.error().message);
        return fleet.error();
    }
    if (Status s = svc.store->save_fleet(*fleet); !s) {
        log::error("control: fleet reload failed: {}", s.error().message);
        return s;
    }
    log::info("control: fleet {} applied", svc.cfg.fleet);
    svc.sync_once();
    return {};
}

} // namespace vcdn::control
