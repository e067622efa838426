#include "control_client.h"

#include <fmt/format.h>

#include <vcdn/base/log.h>
#include <vcdn/base/time.h>
#include <vcdn/client/http_client.h>
#include <vcdn/control/store.h>
#include <vcdn/io/address.h>

namespace vcdn::edge {

ControlClient::ControlClient(ControlLinkConfig cfg, Hooks hooks,
                             std::atomic<bool>* refuse_new_players)
    : cfg_(std::move(cfg)), hooks_(std::move(hooks)), refuse_(refuse_new_players),
      interval_ms_(cfg_.heartbeat_interval_ms) {}

ControlClient::~ControlClient() {
    stop();
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
            refuse_->store(refuse, std::memory_order_relaxed);
            if (refuse)
                log::warn("edge: control plane {} unreachable for {} ms (grace {} ms): not taking "
                          "new players until it is back",
                          cfg_.url, now - last_ok, cfg_.grace_ms);
            else
                log::info("edge: control plane back: taking new players again");
        }
        lk.lock();
        const uint32_t wait = ok && again_soon_ ? 0 : interval_ms_;
        cv_.wait_for(lk, std::chrono::milliseconds(wait), [&] { return stopping_; });
    }
}

bool ControlClient::beat() {
    std::string hostport = cfg_.url.substr(7);
    while (!hostport.empty() && hostport.back() == '/')
        hostport.pop_back();
    auto addr = io::parse_socket_address(hostport);
    if (!addr) return false;

    // Inventory: the digest of the whole list, and what changed since the last acknowledged one.
    std::vector<std::string> now_held = hooks_.inventory();
    std::set<std::string> held(now_held.begin(), now_held.end());
    nlohmann::json added = nlohmann::json::array(), removed = nlohmann::json::array();
    if (send_full_) {
        for (const std::string& p : held)
            added.push_back(p);
    } else {
        for (const std::string& p : held)
            if (!acked_.count(p)) added.push_back(p);
        for (const std::string& p : acked_)
            if (!held.count(p)) removed.push_back(p);
    }
    nlohmann::json body = hooks_.report();
    body["inventory"] = {{"digest", control::inventory_digest(now_held)},
                         {"full", send_full_},
                         {"added", std::move(added)},
                         {"removed", std::move(removed)}};

    // BGP: the sessions, and the route changes since the acknowledged table.
    bgp::Diff bgp_sent;
    const bool bgp_on = static_cast<bool>(hooks_.bgp);
    if (bgp_on) {
        std::shared_ptr<const bgp::Snapshot> snap = hooks_.bgp();
        if (bgp_full_) {
            bgp_acked_.clear();
            bgp_acked_digest_ = 0;
        }
        // Equal digests: nothing to send, no walk over a full table.
        if (bgp_full_ || snap->digest != bgp_acked_digest_ ||
            snap->table->size() != bgp_acked_.size())
            bgp_sent = bgp::diff(bgp_acked_, *snap->table, kMaxBgpChanges);
        nlohmann::json sessions = nlohmann::json::array();
        for (const bgp::SessionView& v : snap->sessions)
            sessions.push_back({{"name", v.session.name},
                                {"state", v.session.state},
                                {"bgp_state", v.session.bgp_state},
                                {"since", v.session.since},
                                {"neighbor", v.session.neighbor},
                                {"neighbor_as", v.session.neighbor_as},
                                {"routes", v.session.routes},
                                {"prefixes", v.prefixes},
                                {"changed_ms", v.changed_ms},
                                {"info", v.session.info}});
        nlohmann::json upserts = nlohmann::json::array(), removals = nlohmann::json::array();
        for (const auto& [p, a] : bgp_sent.upserts)
            upserts.push_back(bgp::route_line(p, a));
        for (const io::IpPrefix& p : bgp_sent.removals)
            removals.push_back(p.to_string());
        body["bgp"] = {{"connected", snap->connected},
                       {"error", snap->error},
                       {"sessions", std::move(sessions)},
                       {"prefixes", snap->table->size()},
                       {"full", bgp_full_},
                       {"upserts", std::move(upserts)},
                       {"removals", std::move(removals)},
                       {"more", bgp_sent.more},
                       {"digest", bgp::digest_hex(
                                      bgp::digest_after(bgp_acked_, bgp_acked_digest_, bgp_sent))}};
    }

    client::HttpClient http(*addr, static_cast<int>(cfg_.timeout_ms));
    std::string payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    bytes_.fetch_add(payload.size(), std::memory_order_relaxed);
    auto r = http.request("POST", fmt::format("/api/v1/edges/{}/heartbeat", cfg_.id),
                          {"Authorization: Bearer " + cfg_.token, "Content-Type: application/json"},
                          payload);
    static thread_local log::RateLimit rl(10000);
    uint64_t suppressed = 0;
    if (!r) {
        if (rl.allow(monotonic_ms(), &suppressed))
            log::warn("edge: heartbeat to {} failed: {} ({} similar suppressed)", cfg_.url,
                      r.error().message, suppressed);
        return false;
    }
    if (r->head.status != 200) {
        if (rl.allow(monotonic_ms(), &suppressed))
            log::warn("edge: heartbeat to {} refused: {} {} ({} similar suppressed)", cfg_.url,
                      r->head.status, r->body.substr(0, 300), suppressed);
        return false;
    }
    nlohmann::json reply = nlohmann::json::parse(r->body, nullptr, false);
    if (!reply.is_object()) return false;
    auto text = [&](const char* key, const char* fallback) {
        auto it = reply.find(key);
        return it != reply.end() && it->is_string() ? it->get<std::string>()
                                                    : std::string(fallback);
    };
    again_soon_ = false;
    if (bgp_on) {
        const std::string b = text("bgp", "");
        if (b == "ok") {
            bgp::apply(&bgp_acked_, bgp_sent, &bgp_acked_digest_);
            bgp_changes_.fetch_add(bgp_sent.size(), std::memory_order_relaxed);
            bgp_full_ = false;
            again_soon_ = bgp_sent.more;
        } else if (b == "resend") {
            bgp_full_ = true; // the control plane's copy differs: start from nothing
        }
    }
    if (text("inventory", "ok") == "resend") {
        send_full_ = true; // the control plane's copy differs: send the whole list next time
    } else {
        acked_ = std::move(held);
        send_full_ = false;
    }
    if (auto it = reply.find("heartbeat_interval_ms");
        it != reply.end() && it->is_number_unsigned()) {
        const uint64_t interval = it->get<uint64_t>();
        if (interval >= 100 && interval <= 600000) interval_ms_ = static_cast<uint32_t>(interval);
    }
    if (reply.contains("keys") && reply["keys"].is_array()) {
        std::string fingerprint = reply["keys"].dump();
        if (fingerprint != last_keys_) {
            std::vector<auth::SigningKey> keys;
            for (const auto& k : reply["keys"]) {
                // One bad key must not keep the good ones out: skip it, say so.
                auth::SigningKey sk;
                if (k.is_object() && k.contains("id") && k["id"].is_string() &&
                    k.contains("secret_hex") && k["secret_hex"].is_string())
                    sk.id = k["id"].get<std::string>();
                if (sk.id.empty() || !auth::valid_key_id(sk.id) ||
                    !auth::decode_hex(k["secret_hex"].get<std::string>(), &sk.secret) ||
                    sk.secret.size() < auth::kMinSecretBytes) {
                    log::warn("edge: control plane sent an unusable signing key: skipped");
                    continue;
                }
                keys.push_back(std::move(sk));
            }
            last_keys_ = std::move(fingerprint);
            hooks_.keys(std::move(keys));
        }
    }
    // After the keys: fill requests to peers are signed with them.
    if (auto m = reply.find("manifest"); hooks_.manifest && m != reply.end() && m->is_object()) {
        const int64_t version = m->value("version", int64_t{0});
        const int64_t ack = m->value("ack", int64_t{0});
        const uint32_t delay = m->value("delete_delay_ms", 60000u);
        if (version > 0) hooks_.manifest(version, ack, delay);
    }
    return true;
}

} // namespace vcdn::edge
