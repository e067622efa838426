#pragma once
// Integration fixture for the control plane: a real `vcdn control` on 127.0.0.1 (SQLite in a
// temp dir, or a real PostgreSQL the test starts), real `vcdn edge` processes that heartbeat
// to it, and a small JSON-over-HTTP client for the API.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "process.h"
#include "raw_client.h"
#include "temp_dir.h"

namespace vcdn::test {

inline constexpr const char* kAdminToken = "admin-token-0123456789";
inline constexpr const char* kReadToken = "read-token-0123456789";

struct ApiReply {
    int status = 0;
    nlohmann::json json; // null when the body is not JSON
    std::string body;
};

// One request on a new connection to 127.0.0.1:port.
ApiReply api(uint16_t port, const std::string& method, const std::string& target,
             const std::string& body = "", const std::string& token = "");
// The same over HTTPS, verifying the server against `ca`.
ApiReply api_https(uint16_t port, const std::string& ca, const std::string& method,
                   const std::string& target, const std::string& body = "",
                   const std::string& token = "");

// A fleet CA and a certificate for 127.0.0.1 ("control") in `dir`: dir/ca/ca.pem, dir/control.pem,
// dir/control.key. Fails the test on an error.
void make_control_pki(const std::string& dir);

class ControlProcess {
public:
    // Starts `vcdn control` with a config file holding `extra_toml` lines in [control].
    bool start(const std::string& work, const std::string& db, const std::string& fleet_path,
               const std::string& extra_toml = "", uint16_t port = 0);
    // The same as a deployment runs it: three listeners (public, edge, admin), each HTTPS
    // with a certificate of a CA made in `work` (ca(): the edges' --control-ca).
    bool start_tls(const std::string& work, const std::string& db, const std::string& fleet_path,
                   const std::string& extra_toml = "");
    SpawnOptions spawn;      // the process's environment (set before start)
    uint16_t port = 0;       // the public listener
    uint16_t edge_port = 0;  // start_tls: the edges' listener
    uint16_t admin_port = 0; // start_tls: the operators'
    bool tls = false;
    std::string ca_file;
    Process proc;
    // The base URL edges take (--control).
    std::string edge_url() const {
        return tls ? fmt::format("https://127.0.0.1:{}", edge_port)
                   : fmt::format("http://127.0.0.1:{}", port);
    }
    // admin: the admin token; otherwise the read-only token (which public calls ignore).
    // This period's views of `path` for popularity group `group` (GET /api/v1/popularity).
    double popularity_today(const std::string& group, const std::string& path) {
        ApiReply r = call("GET", "/api/v1/popularity?group=" + group);
        EXPECT_EQ(r.status, 200) << r.body;
        for (const auto& f : r.json["files"])
            if (f["path"] == path) return f["today"].get<double>();
        return 0.0;
    }
    ApiReply call(const std::string& method, const std::string& target,
                  const std::string& body = "", bool admin = true) {
        if (tls)
            return api_https(target.rfind("/api/v1/steer", 0) == 0 ? port : admin_port, ca_file,
                             method, target, body, admin ? kAdminToken : kReadToken);
        return api(port, method, target, body, admin ? kAdminToken : kReadToken);
    }
    // Polls GET /api/v1/edges/<id> until its state is `state` (or the timeout passes).
    nlohmann::json wait_edge_state(const std::string& id, const std::string& state, int timeout_ms);
};

struct ControlledEdge {
    Process proc;
    uint16_t port = 0;
    uint16_t admin_port = 0;
    std::string ip = "127.0.0.1"; // the address it listens on (set before start)
    bool start(const std::string& root, const std::string& work, uint16_t control_port,
               const std::string& id, const std::string& extra_toml = "",
               bool require_signed = true);
};

// A catalog made once per test binary: 3 titles, 2 bitrates, 4 s each.
const std::string& shared_root();

// The fleet used by most tests: isp-a (10.1.0.0/16, embedded) with a1 and a2, ix-1 (ix) with
// x1, origin on a closed port. Edge URLs are placeholders until the test sets them.
std::string fleet_toml();

// Fetch a signed URL from an edge: "http://127.x.y.z:P/path?..." -> response; from the
// source address `source` when given.
RawResponse get_url(const std::string& url, const std::string& extra_headers = "",
                    const std::string& source = "");

} // namespace vcdn::test
