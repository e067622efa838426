#pragma once
// The edge's fill: fetches its manifest from the control plane, downloads what it lacks from
// the ranked sources inside the fill window at a capped rate, verifies every byte, and
// deletes what the manifest dropped once the control plane has stopped steering to it.
// A scrubber re-verifies stored files slowly and has the filler replace any that rotted.
//
// Crash safety: a download goes to <root>/.vcdn-fill/<sha256>-<path hash>.part (never served: the
// edge refuses dot-paths), is fsync'd once its SHA-256 matches, then renamed into place and its
// directory fsync'd. A file under its real name is therefore always complete and verified;
// after a kill -9 the next start resumes each .part with a Range request (re-hashing the
// bytes it already has).
//
// Threads: one filler thread (libcurl multi: many transfers, no thread per download) and one
// scrubber thread; the heartbeat thread calls on_manifest_info() and progress(), the admin
// thread metrics(). Never on a serving worker.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <vcdn/base/prometheus.h>
#include <vcdn/fill/fill.h>
#include <vcdn/wire/heartbeat.h>

namespace vcdn::io {
class Storage;
}

namespace vcdn::fill {

class Filler {
public:
    struct Options {
        FillConfig cfg;
        std::string edge_id;
        std::string control_url; // https://host:port (the control plane's edge listener)
        std::string control_ca;  // PEM CA of the control plane's certificate
    };
    struct Hooks {
        // The edge's current control token (it may be rotated while the filler runs).
        std::function<std::string()> control_token;
    };

    static Result<std::unique_ptr<Filler>> create(Options opt, io::Storage* storage, Hooks hooks);
    ~Filler();
    void start();
    void stop();

    // From the heartbeat thread: the manifest version the control plane has for this edge,
    // the version its steering already follows (ack) and how long to wait after an ack
    // before deleting what that version dropped.
    void on_manifest_info(int64_t version, int64_t ack, uint32_t delete_delay_ms);
    // From the edge's admin listener: let the held deletions of the current manifest go ahead.
    // Returns a one-line account: what was held and is now allowed, or that nothing is held.
    std::string allow_deletions();
    // SIGHUP: the new window, rate cap, bytes per window and parallel transfers (the other
    // settings stay; live_update says so). Applied by the filler thread on its next turn:
    // transfers under way outside a new window are stopped (and resumed in it).
    void set_config(const FillConfig& cfg);
    // The heartbeat's fill progress.
    wire::FillProgress progress() const;
    // Its families of the edge's /metrics.
    void metrics(PromText& out) const;

    struct Impl;

private:
    explicit Filler(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace vcdn::fill
