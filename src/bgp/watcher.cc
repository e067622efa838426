#include <vcdn/bgp/watcher.h>

#include <pthread.h>

#include <fmt/format.h>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>

namespace vcdn::bgp {

Watcher::Watcher(WatcherConfig cfg) : cfg_(std::move(cfg)), snap_(std::make_shared<Snapshot>()) {}

Watcher::~Watcher() {
    stop();
}

void Watcher::start() {
    thread_ = std::thread([this] { run(); });
}

void Watcher::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const Snapshot> Watcher::snapshot() const {
    std::lock_guard lk(mu_);
    return snap_;
}

void Watcher::publish(std::shared_ptr<Snapshot> s) {
    std::lock_guard lk(mu_);
    snap_ = std::move(s);
}

void Watcher::run() {
    pthread_setname_np(pthread_self(), "edge-bgp");
    std::unique_lock lk(mu_);
    while (!stopping_) {
        lk.unlock();
        poll_once();
        lk.lock();
        cv_.wait_for(lk, std::chrono::milliseconds(cfg_.poll_ms), [&] { return stopping_; });
    }
}

void Watcher::poll_once() {
    auto prev = snapshot();
    auto next = std::make_shared<Snapshot>(*prev);
    const int64_t now = realtime_ns() / 1000000;
    auto failed = [&](const std::string& why) {
        static thread_local log::RateLimit rl(30000);
        uint64_t suppressed = 0;
        if (next->connected || rl.allow(monotonic_ms(), &suppressed))
            log::warn("edge: bgp: BIRD at {}: {} ({} similar suppressed)", cfg_.socket, why,
                      suppressed);
        bird_.reset();
        signature_.clear();
        last_sig_.clear();
        changing_since_ = 0;
        next->connected = false;
        next->error = why;
        ++next->errors;
        if (unreachable_since_ == 0) unreachable_since_ = now;
        // BIRD gone: its sessions are gone with it. After a while the table goes too, so
        // that the control plane stops steering by what nobody is hearing any more.
        for (SessionView& s : next->sessions)
            s.session.bgp_state = "unknown";
        if (now - unreachable_since_ >= int64_t{cfg_.stale_ms} && !next->table->empty()) {
            log::warn("edge: bgp: BIRD unreachable for {} ms: dropping {} learned prefixes",
                      now - unreachable_since_, next->table->size());
            next->table = std::make_shared<const wire::RouteMap>();
            next->digest = 0;
            next->sessions.clear();
        }
        publish(std::move(next));
    };
    if (!bird_) {
        auto c = BirdClient::connect(cfg_.socket, cfg_.timeout_ms);
        if (!c) return failed(c.error().message);
        bird_ = std::move(*c);
        if (!prev->connected)
            log::info("edge: bgp: connected to {} at {}", bird_->version(), cfg_.socket);
        next->bird_version = bird_->version();
    }
    auto sessions = bird_->sessions();
    if (!sessions) return failed(sessions.error().message);
    unreachable_since_ = 0;
    next->connected = true;
    next->error.clear();
    std::string sig;
    for (const Session& s : *sessions) {
        sig += fmt::format("{}|{}|{}|{}|{}|{};", s.name, s.state, s.bgp_state, s.routes,
                           s.import_updates, s.import_withdraws);
        auto& st = states_[s.name];
        if (st.first != s.bgp_state) {
            if (!st.first.empty())
                log::info("edge: bgp: session {} ({} AS{}): {} -> {}{}", s.name, s.neighbor,
                          s.neighbor_as, st.first, s.bgp_state,
                          s.info.empty() || s.info == s.bgp_state ? "" : " (" + s.info + ")");
            else
                log::info("edge: bgp: session {} ({} AS{}) is {}", s.name, s.neighbor,
                          s.neighbor_as, s.bgp_state);
            st = {s.bgp_state, st.first.empty() ? 0 : now};
        }
    }
    std::map<std::string, uint64_t> per_session;
    for (const SessionView& v : prev->sessions)
        per_session[v.session.name] = v.prefixes;
    const int64_t mono = monotonic_ms();
    // Read once BIRD has settled: the counters did not move since the last poll (an update
    // burst, e.g. a router's reconfiguration, is read once at its end, not half-way), or they
    // have been moving for settle_max_ms.
    const bool moved = sig != last_sig_;
    if (moved && changing_since_ == 0) changing_since_ = mono;
    last_sig_ = sig;
    const bool settled = !moved || (changing_since_ && mono - changing_since_ >= kSettleMaxMs);
    const bool first = prev->reads == 0;
    if (sig != signature_ && mono >= next_read_ms_ && (first || settled)) {
        const int64_t t0 = monotonic_ms();
        auto table = std::make_shared<wire::RouteMap>();
        table->reserve(prev->table->size());
        per_session.clear();
        uint64_t dropped = 0;

        for (const Session& s : *sessions) {
            if (!s.established()) continue;

            uint64_t n = 0;
            Status st = bird_->routes(s.name, [&](LearnedRoute&& r) {
                ++n;
                // Bounded: a router that floods more-specifics fills the table only to the
                // limit (the first prefixes read are kept), and the edge says so.
                if (table->size() >= cfg_.max_routes && !table->count(r.prefix)) {
                    ++dropped;
                    return;
                }
                auto [it, fresh] = table->try_emplace(r.prefix, r.attrs);
                if (!fresh && r.attrs.better_than(it->second)) it->second = std::move(r.attrs);
            });
            if (!st)
                return failed(
                    fmt::format("show route protocol {}: {}", s.name, st.error().message));
            per_session[s.name] = n;
        }

        if (dropped > 0 && prev->over_limit == 0)
            log::warn("edge: bgp: BIRD offers more than {} prefixes: keeping the first {}, "
                      "leaving out {}",
                      cfg_.max_routes, table->size(), dropped);
        next->over_limit = dropped;
        next->read_seconds = static_cast<double>(monotonic_ms() - t0) / 1000.0;
        next->read_ms = now;
        ++next->reads;
        next->digest = wire::table_digest(*table);
        const size_t before = prev->table->size();
        next->table = std::move(table);
        signature_ = sig;
        changing_since_ = 0;
        // Spacing: a read that took T waits 4T before the next (at least one poll).
        next_read_ms_ = monotonic_ms() + std::max<int64_t>(cfg_.poll_ms, 2 * (monotonic_ms() - t0));
        if (next->table->size() != before || prev->reads == 0)
            log::info("edge: bgp: {} prefixes from {} established session(s) (read in {:.2f} s)",
                      next->table->size(), per_session.size(), next->read_seconds);
    }
    if (next->over_limit > 0) // reported to the control plane with the sessions
        next->error = fmt::format("{} prefixes over the limit of {} left out", next->over_limit,
                                  cfg_.max_routes);
    next->sessions.clear();
    for (const Session& s : *sessions) {
        SessionView v;
        v.session = s;
        v.prefixes = per_session.count(s.name) ? per_session[s.name] : 0;
        v.changed_ms = states_[s.name].second;
        next->sessions.push_back(std::move(v));
    }
    publish(std::move(next));
}

void Watcher::metrics(PromText& out) const {
    std::shared_ptr<const Snapshot> s = snapshot();
    out.family("vcdn_bgp_bird_up", "gauge", "1 while the edge can talk to its BIRD.")
        .sample("vcdn_bgp_bird_up", s->connected ? 1 : 0);
    out.family("vcdn_bgp_prefixes", "gauge",
               "Client prefixes learned over BGP (best per prefix over the established sessions).")
        .sample("vcdn_bgp_prefixes", s->table->size());
    out.family("vcdn_bgp_routes_over_limit", "gauge",
               "Prefixes the last read left out because BIRD offered more than the limit.")
        .sample("vcdn_bgp_routes_over_limit", s->over_limit);
    out.family("vcdn_bgp_reads_total", "counter", "Route reads from BIRD.")
        .sample("vcdn_bgp_reads_total", s->reads);
    out.family("vcdn_bgp_errors_total", "counter", "Failures talking to BIRD.")
        .sample("vcdn_bgp_errors_total", s->errors);
    out.family("vcdn_bgp_read_seconds", "gauge", "How long the last route read took.")
        .sample("vcdn_bgp_read_seconds", s->read_seconds);
    out.family("vcdn_bgp_session_up", "gauge", "1 while a BGP session is Established.");
    for (const SessionView& v : s->sessions)
        out.sample("vcdn_bgp_session_up",
                   {{"session", v.session.name}, {"neighbor", v.session.neighbor}},
                   v.session.established() ? 1 : 0);
    out.family("vcdn_bgp_session_routes", "gauge", "Routes a BGP session has imported.");
    for (const SessionView& v : s->sessions)
        out.sample("vcdn_bgp_session_routes", {{"session", v.session.name}}, v.session.routes);
    out.family("vcdn_bgp_session_changed_seconds", "gauge",
               "Unix time of the session's last state change seen by the edge (0: none since "
               "start).");
    for (const SessionView& v : s->sessions)
        out.sample("vcdn_bgp_session_changed_seconds", {{"session", v.session.name}},
                   v.changed_ms / 1000);
}

} // namespace vcdn::bgp
