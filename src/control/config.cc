#include <vcdn/control/config.h>

#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <vcdn/base/log.h>
#include <vcdn/base/toml_util.h>
#include <vcdn/http/url.h>
#include <vcdn/io/address.h>

namespace vcdn::control {

namespace {

// A secret from a file: its first line, trimmed. Throws with the key on failure (start-up).
std::string read_secret(const std::string& path, const char* key) {
    auto s = read_secret_file(path);
    if (!s) throw std::runtime_error(fmt::format("{}: {}", key, s.error().message));
    return *s;
}

} // namespace

Result<std::string> read_secret_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Error::from_errno(path);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
        line.pop_back();
    size_t start = 0;
    while (start < line.size() && (line[start] == ' ' || line[start] == '\t'))
        ++start;
    line.erase(0, start);
    if (line.empty()) return Error{fmt::format("{}: empty", path)};
    for (char c : line)
        if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
            return Error{fmt::format("{}: the secret has a space or a control character", path)};
    return line;
}

Status parse_control_toml(std::string_view text, std::string_view source, ControlConfig* cfg) {
    toml_util::Diagnostics diag{std::string(source), {}};
    try {
        toml::table doc = toml::parse(text, source);
        toml_util::check_top_level(doc, {"edge", "control"}, &diag);
        const toml::node* n = doc.get("control");
        if (!n) return diag.status(); // [edge] and the like belong to other subcommands
        const toml::table* t = n->as_table();
        if (!t) throw std::runtime_error("control: expected a table");
        toml_util::TableReader r(*t, "control", &diag);
        r.get("listen", &cfg->listen);
        r.get("edge_listen", &cfg->edge_listen);
        r.get("admin_listen", &cfg->admin_listen);
        r.get("db", &cfg->db);
        r.get("fleet", &cfg->fleet);
        r.get("admin_token", &cfg->admin_token);
        std::string file;
        if (r.get("admin_token_file", &file))
            cfg->admin_token = read_secret(file, "admin_token_file");
        r.get("read_token", &cfg->read_token);
        if (r.get("read_token_file", &file)) cfg->read_token = read_secret(file, "read_token_file");
        r.get("threads", &cfg->threads, 0, 64);
        r.get("sync_interval_ms", &cfg->sync_interval_ms, 10, 60000);
        r.get("url_ttl_s", &cfg->url_ttl_s, 1, 30u * 86400);
        r.get("fill_url_ttl_s", &cfg->fill_url_ttl_s, 600, 30u * 86400);
        r.get("bind_client_prefix", &cfg->bind_client_prefix);
        r.get("max_urls", &cfg->max_urls, 1, 64);
        r.get("https_urls", &cfg->https_urls);
        r.get("steering_log", &cfg->steering_log);
        r.get("log_level", &cfg->log_level);
        r.get("popularity_period_s", &cfg->popularity_period_s, 1, 365u * 86400);
        r.get("popularity_alpha", &cfg->popularity_alpha);
        r.get("fill_delete_delay_ms", &cfg->fill_delete_delay_ms, 0, 86400000);
        if (const toml::table* tt = r.subtable("tls")) {
            toml_util::TableReader tr(*tt, "control.tls", &diag);
            tr.get("cert", &cfg->tls.cert);
            tr.get("key", &cfg->tls.key);
            tr.get("listeners", &cfg->tls.listeners);
            tr.finish();
        }
        if (const toml::table* lt = r.subtable("limits")) {
            toml_util::TableReader lr(*lt, "control.limits", &diag);
            lr.get("trusted", &cfg->limits.trusted);
            lr.get("proxies", &cfg->limits.proxies);
            lr.get("proxy_protocol", &cfg->limits.proxy_protocol);
            lr.get("public_requests_per_s", &cfg->limits.public_requests_per_s);
            lr.get("public_connections", &cfg->limits.public_connections, 0, 1000000);
            lr.finish();
        }
        if (const toml::table* st = r.subtable("steering")) {
            toml_util::TableReader sr(*st, "control.steering", &diag);
            sr.get("session_keys", &cfg->steering.session_keys);
            sr.get("session_max_lifetime_s", &cfg->steering.session_max_lifetime_s, 60,
                   30u * 86400);
            sr.finish();
        }
        if (const toml::table* pt = r.subtable("play")) {
            toml_util::TableReader pr(*pt, "control.play", &diag);
            pr.get("public_url", &cfg->play.public_url);
            pr.get("token_ttl_s", &cfg->play.token_ttl_s, 60, 30u * 86400);
            pr.get("steering_ttl_s", &cfg->play.steering_ttl_s, 1, 86400);
            pr.get("fetch_ca", &cfg->play.fetch_ca);
            pr.get("fetch_timeout_ms", &cfg->play.fetch_timeout_ms, 100, 600000);
            pr.get("cache_mb", &cfg->play.cache_mb, 1, 65536);
            pr.finish();
        }
        if (const toml::table* bt = r.subtable("bgp")) {
            toml_util::TableReader br(*bt, "control.bgp", &diag);
            br.get("min_length_v4", &cfg->bgp.min_length_v4, 1, 32);
            br.get("min_length_v6", &cfg->bgp.min_length_v6, 1, 128);
            br.finish();
        }
        if (const toml::table* h = r.subtable("health")) {
            toml_util::TableReader hr(*h, "control.health", &diag);
            hr.get("heartbeat_interval_ms", &cfg->health.heartbeat_interval_ms, 100, 600000);
            hr.get("missed_heartbeats", &cfg->health.missed_heartbeats, 1, 1000);
            hr.get("load_high", &cfg->health.load_high);
            hr.get("load_low", &cfg->health.load_low);
            hr.get("hold_down_ms", &cfg->health.hold_down_ms, 0, 3600000);
            hr.finish();
        }
        r.finish();
    } catch (const toml::parse_error& e) {
        return toml_util::parse_error(source, e);
    } catch (const std::exception& e) {
        diag.add(nullptr, e.what());
    }
    return diag.status();
}

Status load_control_config_file(const std::string& path, ControlConfig* cfg) {
    auto text = toml_util::read_text_file(path, "config file");
    if (!text) return text.error();
    return parse_control_toml(*text, path, cfg);
}

namespace {
Result<std::vector<io::IpPrefix>> prefixes(const std::vector<std::string>& list, const char* key) {
    std::vector<io::IpPrefix> out;
    for (const std::string& t : list) {
        auto p = io::IpPrefix::parse(t);
        if (!p) return Error{fmt::format("limits.{}: '{}': {}", key, t, p.error().message)};
        out.push_back(*p);
    }
    return out;
}
} // namespace

Result<std::vector<io::IpPrefix>> trusted_prefixes(const ControlConfig& cfg) {
    return prefixes(cfg.limits.trusted, "trusted");
}

Result<std::vector<io::IpPrefix>> proxy_prefixes(const ControlConfig& cfg) {
    return prefixes(cfg.limits.proxies, "proxies");
}

Status validate(const ControlConfig& cfg) {
    if (auto t = trusted_prefixes(cfg); !t) return t.error();
    if (auto t = proxy_prefixes(cfg); !t) return t.error();
    if (cfg.limits.proxy_protocol && cfg.limits.proxies.empty())
        return Error{"limits.proxy_protocol: name the balancers that send it in limits.proxies"};
    if (cfg.limits.public_requests_per_s < 0)
        return Error{"limits.public_requests_per_s: 0 (none) or more"};
    if (auto a = io::parse_socket_address(cfg.listen); !a)
        return Error{fmt::format("listen: {}", a.error().message)};
    for (const auto& [key, addr] :
         {std::pair{"edge_listen", &cfg.edge_listen}, std::pair{"admin_listen", &cfg.admin_listen}})
        if (!addr->empty())
            if (auto a = io::parse_socket_address(*addr); !a)
                return Error{fmt::format("{}: {}", key, a.error().message)};
    if (cfg.admin_token.size() < 16)
        return Error{"admin token: give --admin-token-file (or control.admin_token_file, or env "
                     "VCDN_ADMIN_TOKEN) with at least 16 characters"};
    if (!cfg.read_token.empty() && cfg.read_token.size() < 16)
        return Error{"read token: at least 16 characters"};
    if (!cfg.read_token.empty() && cfg.read_token == cfg.admin_token)
        return Error{"read token: must differ from the admin token"};
    if (cfg.tls.cert.empty() != cfg.tls.key.empty()) return Error{"tls: give both cert and key"};
    for (const std::string& l : cfg.tls.listeners)
        if (l != "public" && l != "edge" && l != "admin")
            return Error{fmt::format("tls.listeners: '{}': use public, edge or admin", l)};
    if (cfg.db.rfind("sqlite:", 0) != 0 && cfg.db.rfind("postgres://", 0) != 0 &&
        cfg.db.rfind("postgresql://", 0) != 0)
        return Error{fmt::format("db '{}': use sqlite:PATH or postgres://...", cfg.db)};
    if (!(cfg.health.load_low > 0 && cfg.health.load_low <= cfg.health.load_high &&
          cfg.health.load_high <= 10))
        return Error{"health: need 0 < load_low <= load_high"};
    if (!(cfg.popularity_alpha > 0 && cfg.popularity_alpha <= 1))
        return Error{"popularity_alpha: must be in (0, 1]"};
    if (!cfg.play.public_url.empty())
        if (auto u = http::parse_base_url(cfg.play.public_url); !u)
            return Error{fmt::format("play.public_url: {}", u.error().message)};
    log::Level lvl;
    if (!log::parse_level(cfg.log_level, &lvl))
        return Error{fmt::format("log_level '{}': use debug, info, warn or error", cfg.log_level)};
    return {};
}

} // namespace vcdn::control
