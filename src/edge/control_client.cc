#include "control_client.h"

#include <fmt/format.h>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>

namespace vcdn::edge {

ControlClient::ControlClient(ControlLinkConfig cfg, Hooks hooks,
                             std::atomic<uint8_t>* refuse_new_players)
    : cfg_(std::move(cfg)),
      http_(io::HttpClientOptions{cfg_.timeout_ms, std::min<uint32_t>(cfg_.timeout_ms, 2000),
                                  1u << 20, cfg_.ca, "", ""}),
      hooks_(std::move(hooks)), refuse_(refuse_new_players),
      interval_ms_(cfg_.heartbeat_interval_ms) {
    token_ = cfg_.token;
    cfg_.token.clear(); // kept in one place only
    std::string base = cfg_.url;
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    heartbeat_url_ = fmt::format("{}/api/v1/edges/{}/heartbeat", base, cfg_.id);
}

ControlClient::~ControlClient() {
    stop();
}

void ControlClient::set_token(std::string token) {
    std::lock_guard lk(token_mu_);
    token_ = std::move(token);
}

std::string ControlClient::token() const {
    std::lock_guard lk(token_mu_);
    return token_;
}

void ControlClient::start() {
    thread_ = std::thread([this] { run(); });
}

void ControlClient::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ControlClient::run() {
    pthread_setname_np(pthread_self(), "edge-control");
    int64_t last_ok = monotonic_ms(); // the grace period counts from start, too
    bool refusing = false;
    std::unique_lock lk(mu_);
    while (!stopping_) {
        lk.unlock();
        bool ok = false;
        try {
            ok = beat();
        } catch (const std::exception& e) { // a reply of unexpected shape, say: not fatal
            static thread_local log::RateLimit rl(10000);
            uint64_t suppressed = 0;
            if (rl.allow(monotonic_ms(), &suppressed))
                log::warn("edge: heartbeat to {} failed: {} ({} similar suppressed)", cfg_.url,
                          e.what(), suppressed);
        }
        const int64_t now = monotonic_ms();
        if (ok) {
            last_ok = now;
            ok_.fetch_add(1, std::memory_order_relaxed);
            if (!connected_.exchange(true)) log::info("edge: control plane {} reached", cfg_.url);
        } else {
            failed_.fetch_add(1, std::memory_order_relaxed);
            connected_.store(false);
        }
        const bool refuse = cfg_.grace_ms > 0 && now - last_ok > int64_t{cfg_.grace_ms};
        if (refuse != refusing) {
            refusing = refuse;
            refusing_since_ms_.store(refuse ? now : 0);
            const Link l = link_.load();
            refuse_->store(!refuse               ? 0
                           : l == Link::kRemoved ? 3
                           : l == Link::kRefused ? 2
                                                 : 1,
                           std::memory_order_relaxed);
            if (refuse && link_.load() == Link::kRemoved)
                log::warn("edge: removed from the fleet (the control plane {} knows no edge '{}') "
                          "for {} ms: not taking new players",
                          cfg_.url, cfg_.id, now - last_ok);
            else if (refuse)
                log::warn("edge: control plane {} {} for {} ms (grace {} ms): not taking new "
                          "players until it is back",
                          cfg_.url,
                          link_.load() == Link::kRefused ? "refuses this edge's heartbeats"
                                                         : "unreachable",
                          now - last_ok, cfg_.grace_ms);
            else
                log::info("edge: control plane back: taking new players again");
        }
        lk.lock();
        const uint32_t wait = ok && again_soon_ ? 0 : interval_ms_;
        cv_.wait_for(lk, std::chrono::milliseconds(wait), [&] { return stopping_; });
    }
}

const char* ControlClient::refusal_text(uint8_t code) {
    switch (code) {
    case 2:
        return "the control plane refuses this edge: not taking new players";
    case 3:
        return "removed from the fleet: not taking new players";
    default:
        return "no control plane: not taking new players";
    }
}

const char* ControlClient::link_name(Link l) {
    switch (l) {
    case Link::kStarting:
        return "starting";
    case Link::kOk:
        return "ok";
    case Link::kUnreachable:
        return "unreachable";
    case Link::kRefused:
        return "refused";
    case Link::kRemoved:
        return "removed";
    }
    return "?";
}

std::string ControlClient::refusal() const {
    const int64_t since = refusing_since_ms_.load();
    if (since == 0) return {};
    const int64_t secs = (monotonic_ms() - since) / 1000;
    switch (link_.load()) {
    case Link::kRemoved:
        return fmt::format("removed from the fleet (the control plane knows no edge '{}'): not "
                           "taking new players for {} s",
                           cfg_.id, secs);
    case Link::kRefused:
        return fmt::format("the control plane refuses this edge's heartbeats: not taking new "
                           "players for {} s",
                           secs);
    default:
        return fmt::format("no control plane: not taking new players for {} s", secs);
    }
}

bool ControlClient::beat() {
    // Inventory: the digest of the whole list, and what changed since the last acknowledged one.
    std::vector<std::string> now_held = hooks_.inventory();
    std::set<std::string> held(now_held.begin(), now_held.end());
    wire::Heartbeat hb;
    hb.report = hooks_.report();
    hb.inventory.digest = wire::inventory_digest(now_held);
    hb.inventory.full = send_full_;
    if (send_full_) {
        hb.inventory.added.assign(held.begin(), held.end());
    } else {
        for (const std::string& p : held)
            if (!acked_.count(p)) hb.inventory.added.push_back(p);
        for (const std::string& p : acked_)
            if (!held.count(p)) hb.inventory.removed.push_back(p);
    }

    // BGP: the sessions, and the route changes since the acknowledged table.
    const bool bgp_on = static_cast<bool>(hooks_.bgp);
    if (bgp_on) {
        std::shared_ptr<const bgp::Snapshot> snap = hooks_.bgp();
        if (bgp_full_) {
            bgp_acked_.clear();
            bgp_acked_digest_ = 0;
        }
        wire::BgpChanges changes;
        changes.full = bgp_full_;
        // Equal digests: nothing to send, no walk over a full table.
        if (bgp_full_ || snap->digest != bgp_acked_digest_ ||
            snap->table->size() != bgp_acked_.size())
            changes.diff = wire::diff(bgp_acked_, *snap->table, kMaxBgpChanges);
        changes.digest =
            wire::digest_hex(wire::digest_after(bgp_acked_, bgp_acked_digest_, changes.diff));
        wire::BgpStatus status;
        status.connected = snap->connected;
        status.error = snap->error;
        status.prefixes = snap->table->size();
        status.more = changes.diff.more;
        for (const bgp::SessionView& v : snap->sessions)
            status.sessions.push_back(wire::BgpSession{
                v.session.name, v.session.state, v.session.bgp_state, v.session.since,
                v.session.neighbor, v.session.info, v.session.neighbor_as, v.session.routes,
                v.prefixes, v.changed_ms});
        hb.report.bgp = std::move(status);
        hb.bgp = std::move(changes);
    }

    // Served bytes, every served_interval_ms (a busy edge's tally is up to ~8 MB of JSON, and
    // summing over the interval sends each entry once), sooner when a tally fills; given back
    // to the tally, and retried at the next heartbeat, unless this one is acknowledged.
    const int64_t now_ms = monotonic_ms();
    if (hooks_.served && (cfg_.served_interval_ms == 0 || served_sent_ms_ == 0 ||
                          now_ms - served_sent_ms_ >= cfg_.served_interval_ms ||
                          (hooks_.served_urgent && hooks_.served_urgent()))) {
        hb.served = hooks_.served();
        served_sent_ms_ = now_ms;
    }
    struct GiveBack {
        ControlClient* self;
        std::vector<wire::Served>* served;
        bool acked = false;
        ~GiveBack() {
            if (acked || served->empty()) return;
            if (self->hooks_.served_back) self->hooks_.served_back(*served);
            self->served_sent_ms_ = 0;
        }
    } give_back{this, &hb.served};

    const std::string payload = wire::encode(hb);
    bytes_.fetch_add(payload.size(), std::memory_order_relaxed);
    std::string auth;
    {
        std::lock_guard lk(token_mu_);
        auth = "Authorization: Bearer " + token_;
    }
    auto r =
        http_.request("POST", heartbeat_url_, {auth, "Content-Type: application/json"}, payload);
    static thread_local log::RateLimit rl(10000);
    uint64_t suppressed = 0;
    if (!r) {
        link_.store(Link::kUnreachable);
        if (rl.allow(monotonic_ms(), &suppressed))
            log::warn("edge: heartbeat to {} failed: {} ({} similar suppressed)", cfg_.url,
                      r.error().message, suppressed);
        return false;
    }
    if (r->status != 200) {
        // The control plane answers 404 unknown-edge for an id its fleet does not have.
        const bool removed =
            r->status == 404 && r->body.find("\"unknown-edge\"") != std::string::npos;
        const Link before = link_.exchange(removed ? Link::kRemoved : Link::kRefused);
        if (removed && before != Link::kRemoved)
            log::warn("edge: removed from the fleet: the control plane {} knows no edge '{}'",
                      cfg_.url, cfg_.id);
        else if (rl.allow(monotonic_ms(), &suppressed))
            log::warn("edge: heartbeat to {} refused: {} {} ({} similar suppressed)", cfg_.url,
                      r->status, r->body.substr(0, 300), suppressed);
        return false;
    }
    auto reply = wire::decode_heartbeat_reply(r->body);
    if (!reply) {
        if (rl.allow(monotonic_ms(), &suppressed))
            log::warn("edge: heartbeat reply from {} unusable: {} ({} similar suppressed)",
                      cfg_.url, reply.error().message, suppressed);
        return false;
    }
    give_back.acked = true;
    again_soon_ = false;
    link_.store(Link::kOk);
    if (bgp_on && reply->bgp_ok) {
        if (*reply->bgp_ok) {
            wire::apply(&bgp_acked_, hb.bgp->diff, &bgp_acked_digest_);
            bgp_changes_.fetch_add(hb.bgp->diff.size(), std::memory_order_relaxed);
            bgp_full_ = false;
            again_soon_ = hb.bgp->diff.more;
        } else {
            bgp_full_ = true; // the control plane's copy differs: start from nothing
        }
    }
    if (!reply->inventory_ok) {
        send_full_ = true; // the control plane's copy differs: send the whole list next time
    } else {
        acked_ = std::move(held);
        send_full_ = false;
    }
    if (reply->heartbeat_interval_ms >= 100) interval_ms_ = reply->heartbeat_interval_ms;
    if (reply->keys.empty() && !last_keys_.empty()) {
        // An empty list would make every signed URL fail: keep serving on the keys we have.
        if (rl.allow(monotonic_ms(), &suppressed))
            log::warn("edge: the control plane sent no signing keys: keeping the {} it gave "
                      "before ({} similar suppressed)",
                      last_keys_.size(), suppressed);
    } else if (reply->keys != last_keys_) {
        std::vector<auth::SigningKey> keys;
        for (const wire::KeyGrant& k : reply->keys) {
            // One bad key must not keep the good ones out: skip it, say so.
            auth::SigningKey sk;
            sk.id = k.id;
            if (!auth::valid_key_id(sk.id) || !auth::decode_hex(k.secret_hex, &sk.secret) ||
                sk.secret.size() < auth::kMinSecretBytes) {
                log::warn("edge: control plane sent an unusable signing key: skipped");
                continue;
            }
            keys.push_back(std::move(sk));
        }
        if (keys.empty() && !last_keys_.empty()) {
            log::warn("edge: every signing key the control plane sent was unusable: keeping "
                      "the ones it gave before");
        } else {
            last_keys_ = reply->keys;
            hooks_.keys(std::move(keys));
        }
    }
    // After the keys: fill requests to peers are signed with them.
    if (hooks_.manifest && reply->manifest && reply->manifest->version > 0)
        hooks_.manifest(reply->manifest->version, reply->manifest->ack,
                        reply->manifest->delete_delay_ms);
    return true;
}

} // namespace vcdn::edge
