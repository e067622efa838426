#include "control_fixture.h"

#include <chrono>
#include <regex>
#include <thread>

#include <unistd.h>

#include <vcdn/catalog/catalog.h>
#include <vcdn/io/http_client.h>
#include <vcdn/tls/pki.h>

namespace vcdn::test {

ApiReply api(uint16_t port, const std::string& method, const std::string& target,
             const std::string& body, const std::string& token) {
    std::string req =
        fmt::format("{} {} HTTP/1.1\r\nHost: control\r\nConnection: close\r\n", method, target);
    if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT")
        req += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
    req += "\r\n" + body;
    RawResponse r = fetch(port, req);
    ApiReply out;
    out.status = r.ok ? r.head.status : 0;
    out.body = r.body;
    out.json = nlohmann::json::parse(r.body, nullptr, false);
    if (out.json.is_discarded()) out.json = nullptr;
    return out;
}

ApiReply api_https(uint16_t port, const std::string& ca, const std::string& method,
                   const std::string& target, const std::string& body, const std::string& token) {
    io::HttpClient c(io::HttpClientOptions{10000, 3000, 64u << 20, ca, "", ""});
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    auto r = c.request(method, fmt::format("https://127.0.0.1:{}{}", port, target), headers, body);
    ApiReply out;
    if (!r) {
        out.body = r.error().message;
        return out;
    }
    out.status = r->status;
    out.body = r->body;
    out.json = nlohmann::json::parse(r->body, nullptr, false);
    if (out.json.is_discarded()) out.json = nullptr;
    return out;
}

void make_control_pki(const std::string& dir) {
    if (::access((dir + "/ca/ca.pem").c_str(), R_OK) == 0) return;
    Status s = tls::make_ca(dir + "/ca", "test fleet CA");
    ASSERT_TRUE(s) << s.error().message;
    s = tls::issue_cert(dir + "/ca", tls::CertRequest{"control", {"localhost"}, {"127.0.0.1"}, 30},
                        dir + "/control");
    ASSERT_TRUE(s) << s.error().message;
}

bool ControlProcess::start_tls(const std::string& work, const std::string& db,
                               const std::string& fleet_path, const std::string& extra_toml) {
    make_control_pki(work);
    ca_file = work + "/ca/ca.pem";
    tls = true;
    std::string cfg = work + "/control.toml";
    write_file(cfg,
               fmt::format("[control]\nlisten = \"127.0.0.1:0\"\nedge_listen = \"127.0.0.1:0\"\n"
                           "admin_listen = \"127.0.0.1:0\"\ndb = \"{}\"\nadmin_token = \"{}\"\n"
                           "read_token = \"{}\"\nsteering_log = \"{}\"\nthreads = 2\n{}\n"
                           "[control.tls]\ncert = \"{}/control.pem\"\nkey = \"{}/control.key\"\n",
                           db, kAdminToken, kReadToken, work + "/steering.log", extra_toml, work,
                           work));
    std::vector<std::string> argv = {vcdn_binary(), "control", "--config", cfg};
    if (!fleet_path.empty()) {
        argv.push_back("--fleet");
        argv.push_back(fleet_path);
    }
    if (!proc.start(argv, spawn)) return false;
    for (auto [name, out] : {std::pair{"public", &port}, std::pair{"edge", &edge_port},
                             std::pair{"admin", &admin_port}}) {
        auto m = proc.wait_for_line(
            std::regex(fmt::format(R"(listening https://127\.0\.0\.1:(\d+) \({}\))", name)), 15000);
        if (!m) return false;
        *out = static_cast<uint16_t>(std::stoi((*m)[1]));
    }
    return true;
}

bool ControlProcess::start(const std::string& work, const std::string& db,
                           const std::string& fleet_path, const std::string& extra_toml,
                           uint16_t want_port) {
    std::string cfg = work + "/control.toml";
    write_file(cfg, fmt::format("[control]\nlisten = \"127.0.0.1:{}\"\ndb = \"{}\"\nadmin_token = "
                                "\"{}\"\nread_token = \"{}\"\nsteering_log = \"{}\"\nthreads = "
                                "2\n{}\n",
                                want_port, db, kAdminToken, kReadToken, work + "/steering.log",
                                extra_toml));
    std::vector<std::string> argv = {vcdn_binary(), "control", "--config", cfg};
    if (!fleet_path.empty()) {
        argv.push_back("--fleet");
        argv.push_back(fleet_path);
    }
    if (!proc.start(argv, spawn)) return false;
    auto m = proc.wait_for_line(std::regex(R"(listening http://127\.0\.0\.1:(\d+))"), 15000);
    if (!m) return false;
    port = static_cast<uint16_t>(std::stoi((*m)[1]));
    return true;
}

nlohmann::json ControlProcess::wait_edge_state(const std::string& id, const std::string& state,
                                               int timeout_ms) {
    nlohmann::json last;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    do {
        ApiReply r = call("GET", "/api/v1/edges/" + id, "", false);
        last = r.json;
        if (r.status == 200 && last.is_object() && last.value("state", "") == state) return last;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    return last;
}

bool ControlledEdge::start(const std::string& root, const std::string& work, uint16_t control_port,
                           const std::string& id, const std::string& extra_toml,
                           bool require_signed) {
    std::string cfg = work + "/edge-" + id + ".toml";
    write_file(cfg,
               fmt::format("[edge]\nroot = \"{}\"\nlisten = [\"{}:0\"]\nadmin = "
                           "\"127.0.0.1:0\"\nworkers = 1\naccess_log = \"off\"\n"
                           "require_signed_urls = {}\n[edge.control]\nurl = "
                           "\"http://127.0.0.1:{}\"\nallow_insecure = true\nid = \"{}\"\n"
                           "token = \"edge-secret-0123-{}\"\nheartbeat_interval_ms = 200\n{}\n",
                           root, ip, require_signed ? "true" : "false", control_port, id, id,
                           extra_toml));
    if (!proc.start({vcdn_binary(), "edge", "--config", cfg})) return false;
    std::string dotted = ip;
    for (size_t at = dotted.find('.'); at != std::string::npos; at = dotted.find('.', at + 2))
        dotted.replace(at, 1, "\\.");
    auto m =
        proc.wait_for_line(std::regex(fmt::format(R"(listening http://{}:(\d+))", dotted)), 10000);
    if (!m) return false;
    port = static_cast<uint16_t>(std::stoi((*m)[1]));
    auto a = proc.wait_for_line(std::regex(R"(admin http://127\.0\.0\.1:(\d+))"), 5000);
    if (!a) return false;
    admin_port = static_cast<uint16_t>(std::stoi((*a)[1]));
    return true;
}

const std::string& shared_root() {
    // Lives for the whole test binary and is removed when it exits (ctest runs each test in a
    // process of its own: a directory left behind by each would add up to ~100 MB a run).
    static TempDir dir;
    static std::string root = [] {
        catalog::MakeOptions o;
        o.out_dir = dir.path() + "/root";
        o.titles = 3;
        o.bitrates_kbps = {235, 750};
        o.seconds = 4;
        o.seed = 7;
        auto c = catalog::make_catalog(o);
        if (!c) ADD_FAILURE() << c.error().message;
        return o.out_dir;
    }();
    return root;
}

std::string fleet_toml() {
    return R"([origin]
url = "http://127.0.0.1:9"

[[site]]
name = "isp-a"
tier = "embedded"
prefixes = ["10.1.0.0/16", "2001:db8:1::/48"]
fallback = ["ix-1"]

[[site.edge]]
id = "a1"
url = "http://127.0.0.1:1"
token = "edge-secret-0123-a1"

[[site.edge]]
id = "a2"
url = "http://127.0.0.1:1"
token = "edge-secret-0123-a2"

[[site]]
name = "ix-1"
tier = "ix"
prefixes = ["10.0.0.0/8"]

[[site.edge]]
id = "x1"
url = "http://127.0.0.1:1"
token = "edge-secret-0123-x1"
)";
}

RawResponse get_url(const std::string& url, const std::string& extra_headers,
                    const std::string& source) {
    std::smatch m;
    static const std::regex re(R"(^http://(127\.[0-9.]+):(\d+)(/.*)$)");
    if (!std::regex_match(url, m, re)) {
        RawResponse r;
        r.error = "not a local URL: " + url;
        return r;
    }
    UniqueFd fd = connect_to(static_cast<uint16_t>(std::stoi(m[2])), m[1], 5000, source);
    if (!fd || !send_all(fd.get(), get_request(m[3], extra_headers))) {
        RawResponse r;
        r.error = "cannot connect to " + url;
        return r;
    }
    std::string carry;
    return read_response(fd.get(), &carry);
}

} // namespace vcdn::test
