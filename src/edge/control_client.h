#pragma once
// The edge's link to `vcdn control`: a thread that sends a heartbeat every interval (health,
// load, disks, and the inventory as a digest plus changes), applies the signing keys that
// come back, and raises the "refuse new players" flag when the control plane has been
// unreachable for longer than the grace period (lowered again at the first good reply).
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <vcdn/auth/signed_url.h>
#include <vcdn/bgp/watcher.h>
#include <vcdn/edge/config.h>
#include <vcdn/io/http_client.h>
#include <vcdn/wire/heartbeat.h>

namespace vcdn::edge {

class ControlClient {
public:
    struct Hooks {
        std::function<wire::EdgeReport()> report;            // healthy, reason, load, disks
        std::function<std::vector<std::string>()> inventory; // "/t/1/v.mp4", every file held
        std::function<void(std::vector<auth::SigningKey>)> keys;
        // The reply's manifest: version, acknowledged version, delete delay (optional hook).
        std::function<void(int64_t, int64_t, uint32_t)> manifest;
        // What was served since the last call (optional), and what to count again when the
        // heartbeat that carried it failed.
        std::function<std::vector<wire::Served>()> served;
        std::function<void(const std::vector<wire::Served>&)> served_back;
        // Whether the tally should be reported before its interval is up (optional).
        std::function<bool()> served_urgent;
        // What the local BIRD has learned (optional hook: no BGP without it).
        std::function<std::shared_ptr<const bgp::Snapshot>()> bgp;
    };

    // `refuse_new_players` gets why new players are refused (a refusal_text() code; 0: taken).
    ControlClient(ControlLinkConfig cfg, Hooks hooks, std::atomic<uint8_t>* refuse_new_players);
    // What a refused new player is told, by code (1 no control plane, 2 heartbeats refused, 3
    // removed from the fleet).
    static const char* refusal_text(uint8_t code);
    ~ControlClient();
    void start();
    void stop();

    // SIGHUP: a rotated token (the control plane accepts the old and the new one meanwhile).
    void set_token(std::string token);
    std::string token() const;

    uint64_t heartbeats_ok() const { return ok_.load(); }
    uint64_t heartbeats_failed() const { return failed_.load(); }
    bool connected() const { return connected_.load(); }
    uint64_t heartbeat_bytes() const { return bytes_.load(); }
    uint64_t bgp_changes_acked() const { return bgp_changes_.load(); }

    // Why the last heartbeat failed, as an operator reads it: kUnreachable (no answer: the
    // network, the control plane down), kRefused (an answer that is no (e.g. a wrong token)),
    // kRemoved (the control plane knows no edge of this id: removed from the fleet).
    enum class Link : uint8_t { kStarting, kOk, kUnreachable, kRefused, kRemoved };
    Link link() const { return link_.load(); }
    static const char* link_name(Link l);
    // Why the edge refuses new players, for /healthz ("" while it takes them).
    std::string refusal() const;

private:
    void run();
    // One heartbeat; false when the control plane could not be reached or refused it.
    bool beat();

    ControlLinkConfig cfg_;
    std::string heartbeat_url_; // <control>/api/v1/edges/<id>/heartbeat
    io::HttpClient http_;       // the heartbeat thread's (keep-alive)
    Hooks hooks_;
    std::atomic<uint8_t>* refuse_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::atomic<uint64_t> ok_{0}, failed_{0}, bytes_{0}, bgp_changes_{0};
    std::atomic<bool> connected_{false};
    std::atomic<Link> link_{Link::kStarting};
    std::atomic<int64_t> refusing_since_ms_{0}; // 0: taking new players
    uint32_t interval_ms_;
    // What the control plane has acknowledged, so that only changes are sent.
    std::set<std::string> acked_;
    bool send_full_ = true;
    std::vector<wire::KeyGrant> last_keys_;
    mutable std::mutex token_mu_;
    std::string token_; // under token_mu_ (set_token runs on the signal thread)
    // BGP routes the control plane has acknowledged (changes go in steps of at most
    // kMaxBgpChanges; with more to send the next heartbeat follows at once).
    static constexpr size_t kMaxBgpChanges = 250000;
    wire::RouteMap bgp_acked_;
    uint64_t bgp_acked_digest_ = 0;
    bool bgp_full_ = true;
    bool again_soon_ = false;
    int64_t served_sent_ms_ = 0; // when served counts last went out (0: report at the next)
};

} // namespace vcdn::edge
