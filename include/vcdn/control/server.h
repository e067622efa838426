#pragma once
// ControlServer: the whole `vcdn control` process minus flag parsing and signals. It opens
// the store (migrating it), applies the fleet file, serves the HTTP API and the dashboard,
// and runs the sync loop: poll the database, judge edge health, rebuild the steering view.
//
// Thread safety: create/start/stop/reload_fleet from one controlling thread; the API runs on
// its own threads and reads an immutable View swapped in by the sync loop.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/control/config.h>
#include <vcdn/io/address.h>

namespace vcdn::control {

class ControlServer {
public:
    static Result<std::unique_ptr<ControlServer>> create(const ControlConfig& cfg);
    ~ControlServer();

    Status start();
    void stop();
    const io::SocketAddress& address() const; // the public listener's
    // Every listener, the public one first.
    struct ListenerInfo {
        std::string name; // "public" | "edge" | "admin"
        io::SocketAddress address;
        bool tls = false;
    };
    std::vector<ListenerInfo> listeners() const;
    // SIGHUP: loads the TLS certificate and key again; a bad pair keeps the old one.
    Status reload_tls();
    // SIGHUP: loads [control.steering] session_keys again; a bad file keeps the old keys.
    Status reload_session_keys();
    // SIGHUP: applies the fleet file again (when one is configured).
    Status reload_fleet();
    // Milliseconds since the sync loop (health, database, topology) last finished a turn: the
    // watchdog's liveness check.
    int64_t sync_stalled_ms() const;
    // SIGHUP: reopens the steering log file (after logrotate moved it).
    void reopen_logs();

    struct Impl;

private:
    explicit ControlServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The dashboard page (web/dashboard, bundled at build time).
std::string_view dashboard_html();

} // namespace vcdn::control
