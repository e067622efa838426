#pragma once
// EdgeServer: the whole `vcdn edge` process minus signal handling and flag parsing. It binds
// the listeners (so port 0 resolves before start), runs one worker thread per core, the
// admin listener (/metrics, /healthz) and the access-log writer.
//
// Thread safety: create/start/drain/wait/stop are called from one controlling thread (main,
// or the demo); metrics_text() may be called from any thread.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <vcdn/base/result.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/edge/config.h>
#include <vcdn/io/address.h>

namespace vcdn::edge {

struct BoundListener {
    io::SocketAddress address; // with the port the kernel chose for port 0
    bool tls = false;
    bool require_signed = false;
};

// `--check-config`: what create() would refuse, without binding or starting anything — the
// config's validation, and the files it names read as the server would read them (signing
// keys, TLS certificates and keys, the control token, the control CA). Success: a one-line
// summary of what would run.
Result<std::string> check_config(const EdgeConfig& cfg);

// Sockets handed over by the process being upgraded (SIGUSR2): they are used as they are, not
// bound (no moment without a listener, and no connection waiting in a queue is lost).
struct Handoff {
    std::vector<std::pair<uint8_t, UniqueFd>> listeners; // (index in effective_listeners, fd)
    UniqueFd admin;
    bool defer_fill = false; // the fill starts at start_fill(), once the old process let go
};

class EdgeServer {
public:
    static Result<std::unique_ptr<EdgeServer>> create(const EdgeConfig& cfg,
                                                      Handoff* handoff = nullptr);
    ~EdgeServer();

    Status start();
    const std::vector<io::SocketAddress>& listen_addresses() const;
    // Empty when no admin listener is configured.
    const std::vector<io::SocketAddress>& admin_addresses() const;
    size_t workers() const;
    uint32_t max_connections() const;

    // Stop accepting, let in-flight responses finish (bounded by drain_timeout_ms).
    void begin_drain();
    // Waits until every worker has exited; false on timeout.
    bool wait(int64_t timeout_ms);
    // Closes everything now.
    void stop();
    void reopen_logs();
    // SIGHUP. `next`: the config file read again (and the flags applied over it), or the
    // error reading it; nullopt: only the files below. Its live settings (live_update: the
    // settings that need a restart are logged by name and keep their values) become one new
    // snapshot posted to every worker, used from each one's next request; then the signing
    // keys, TLS certificates and control token are read again. A part that fails keeps its
    // running version, is logged and counted (vcdn_edge_reload_failures_total), and its error
    // is returned.
    Status reload(std::optional<Result<EdgeConfig>> next = std::nullopt);
    // The config in use (the controlling thread only).
    std::shared_ptr<const EdgeConfig> config() const;
    const std::vector<BoundListener>& listeners() const;
    // For the watchdog: true when every running worker answered the previous call's ping (the
    // first call: true); then pings them again. Call it at most every half watchdog interval.
    // A worker that ended, normally or not, is not waited for (see worker_failure()).
    bool workers_alive();
    // "" while every worker runs (or ended because it was asked to); else which one ended by
    // itself and why. Such an edge serves only some of its connections and accepts on only some
    // of its listening sockets: the caller drains it and exits with a failure, so that the
    // service manager starts it again.
    std::string worker_failure() const;

    std::string metrics_text() const;

    // Upgrades. The listening sockets to hand to a new process: (listener index, fd) of every
    // worker's socket; -1 for no admin listener. Valid until the drain.
    std::vector<std::pair<uint8_t, int>> listener_fds() const;
    int admin_fd() const;
    // Stop (true) or resume (false) accepting new connections; those open are served on.
    void pause_accepting(bool paused);
    void start_fill(); // a fill deferred by Handoff::defer_fill
    void stop_fill();  // before the new process starts its own (never two on the same roots)
    // Why the edge is not fit to serve ("" when it is): /healthz's 503 reasons (a failed
    // worker first).
    std::string health_problem() const;
    void count_upgrade(bool ok); // vcdn_edge_upgrades_total{result}
    // Stops what speaks for the edge (control link, admin listener, fill, BGP) and leaves the
    // connections to drain: for a process that is no longer (or never became) the service.
    void retire();

    struct Impl;

private:
    explicit EdgeServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace vcdn::edge
