#pragma once
// EdgeServer: the whole `vcdn edge` process minus signal handling and flag parsing. It binds
// the listeners (so port 0 resolves before start), runs one worker thread per core, the
// admin listener (/metrics, /healthz) and the access-log writer.
//
// Thread safety: create/start/drain/wait/stop are called from one controlling thread (main,
// or the demo); metrics_text() may be called from any thread.
#include <memory>
#include <string>
#include <vector>

#include <vcdn/base/result.h>
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

class EdgeServer {
public:
    static Result<std::unique_ptr<EdgeServer>> create(const EdgeConfig& cfg);
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
    // SIGHUP: reloads signing keys and TLS certificates; a part that fails keeps its old
    // version (and the error is returned and logged).
    Status reload();
    const std::vector<BoundListener>& listeners() const;
    // For the watchdog: true when every running worker answered the previous call's ping (the
    // first call: true); then pings them again. Call it at most every half watchdog interval.
    bool workers_alive();

    std::string metrics_text() const;

    struct Impl;

private:
    explicit EdgeServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace vcdn::edge
