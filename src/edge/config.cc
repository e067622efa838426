#include <vcdn/edge/config.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include <vcdn/base/log.h>
#include <vcdn/base/toml_util.h>
#include <vcdn/http/url.h>
#include <vcdn/io/address.h>
#include <vcdn/io/tcp.h>
#include <vcdn/wire/names.h>

namespace vcdn::edge {

Status parse_edge_toml(std::string_view text, std::string_view source, EdgeConfig* cfg) {
    // Every problem is collected (one line each, with its line in the file), so that
    // --check-config shows them all at once; a structural one ends the reading there.
    toml_util::Diagnostics diag{std::string(source), {}};
    try {
        toml::table doc = toml::parse(text, source);
        // A typo'd table ([egde.limits]) or a key outside any table must not pass silently.
        toml_util::check_top_level(doc, {"edge", "control"}, &diag);
        toml_util::TableReader top(doc, std::string(source), &diag);
        const toml::table* edge = top.subtable("edge");
        // Other sections ([control], [player], ...) belong to other subcommands sharing the file.
        if (!edge) return {};
        toml_util::TableReader r(*edge, "edge", &diag);
        std::vector<std::string> roots;
        if (r.get_one_or_many("root", &roots)) {
            cfg->roots.clear();
            for (const std::string& spec : roots)
                cfg->roots.push_back(io::parse_root_spec(spec));
        }
        if (const toml::node* n = edge->get("roots")) {
            r.mark_used("roots");
            const toml::array* arr = n->as_array();
            if (!arr)
                throw std::runtime_error(
                    "edge.roots: expected an array of tables ([[edge.roots]])");
            if (!roots.empty())
                throw std::runtime_error("edge: give either root or [[edge.roots]], not both");
            cfg->roots.clear();
            size_t i = 0;
            for (const toml::node& e : *arr) {
                const toml::table* t = e.as_table();
                std::string where = fmt::format("edge.roots[{}]", i++);
                if (!t) throw std::runtime_error(where + ": expected a table");
                toml_util::TableReader rt(*t, where, &diag);
                io::RootConfig rc;
                if (!rt.get("path", &rc.path))
                    throw std::runtime_error(where + ": path is required");
                std::string tier;
                if (rt.get("tier", &tier) && !io::parse_tier(tier, &rc.tier))
                    throw std::runtime_error(where + ".tier: use \"flash\" or \"disk\"");
                rt.finish();
                cfg->roots.push_back(rc);
            }
        }
        r.get_one_or_many("listen", &cfg->listen);
        r.get_one_or_many("tls_listen", &cfg->tls_listen);
        r.get("signing_keys", &cfg->signing_keys);
        r.get("require_signed_urls", &cfg->require_signed_urls);
        r.get("max_url_lifetime_s", &cfg->max_url_lifetime_s, 0, 365u * 86400);
        r.get("url_clock_skew_s", &cfg->url_clock_skew_s, 0, 3600);
        if (const toml::node* n = edge->get("listener")) {
            r.mark_used("listener");
            const toml::array* arr = n->as_array();
            if (!arr) throw std::runtime_error("edge.listener: expected [[edge.listener]] tables");
            size_t i = 0;
            for (const toml::node& e : *arr) {
                const toml::table* t = e.as_table();
                std::string where = fmt::format("edge.listener[{}]", i++);
                if (!t) throw std::runtime_error(where + ": expected a table");
                toml_util::TableReader lr(*t, where, &diag);
                ListenerConfig lc;
                if (!lr.get("address", &lc.address))
                    throw std::runtime_error(where + ": address is required");
                lr.get("tls", &lc.tls);
                bool req = false;
                if (lr.get("require_signed_urls", &req)) lc.require_signed_urls = req ? 1 : 0;
                lr.finish();
                cfg->listeners.push_back(lc);
            }
        }
        if (const toml::table* t = r.subtable("control")) {
            toml_util::TableReader cr(*t, "edge.control", &diag);
            cr.get("url", &cfg->control.url);
            cr.get("ca", &cfg->control.ca);
            cr.get("allow_insecure", &cfg->control.allow_insecure);
            cr.get("id", &cfg->control.id);
            cr.get("token", &cfg->control.token);
            cr.get("token_file", &cfg->control.token_file);
            cr.get("heartbeat_interval_ms", &cfg->control.heartbeat_interval_ms, 100, 600000);
            cr.get("grace_ms", &cfg->control.grace_ms, 0, 86400000);
            cr.get("timeout_ms", &cfg->control.timeout_ms, 100, 60000);
            cr.get("served_interval_ms", &cfg->control.served_interval_ms, 0, 600000);
            cr.finish();
        }
        if (const toml::table* t = r.subtable("fill")) {
            toml_util::TableReader fr(*t, "edge.fill", &diag);
            fill::FillConfig& f = cfg->fill;
            fr.get("window", &f.window);
            fr.get("rate_mbps", &f.rate_mbps);
            fr.get("max_bytes_per_window", &f.max_bytes_per_window);
            fr.get("parallel", &f.parallel, 1, 64);
            fr.get("connect_timeout_ms", &f.connect_timeout_ms, 100, 60000);
            fr.get("slow_bytes_per_s", &f.slow_bytes_per_s);
            fr.get("slow_time_s", &f.slow_time_s, 1, 3600);
            fr.get("retry_ms", &f.retry_ms, 10, 600000);
            fr.get("progress_log_s", &f.progress_log_s, 1, 86400);
            fr.get("scrub_rate_mbps", &f.scrub_rate_mbps);
            fr.get("scrub_pause_s", &f.scrub_pause_s, 0, 86400);
            fr.get("disk_full_pause_s", &f.disk_full_pause_s, 1, 86400);
            fr.get("max_delete_share", &f.max_delete_share);
            fr.get("min_delete_delay_ms", &f.min_delete_delay_ms, 0, 86400000);
            fr.finish();
        }
        if (const toml::table* t = r.subtable("cors")) {
            toml_util::TableReader cr(*t, "edge.cors", &diag);
            cr.get("enabled", &cfg->cors.enabled);
            cr.get_one_or_many("allow_origins", &cfg->cors.allow_origins);
            cr.get("allow_credentials", &cfg->cors.allow_credentials);
            cr.get("max_age_s", &cfg->cors.max_age_s, 0, 86400 * 7);
            cr.get("allow_headers", &cfg->cors.allow_headers);
            cr.finish();
        }
        if (const toml::table* t = r.subtable("upgrade")) {
            toml_util::TableReader ur(*t, "edge.upgrade", &diag);
            ur.get("binary", &cfg->upgrade.binary);
            ur.get("start_timeout_ms", &cfg->upgrade.start_timeout_ms, 1000, 600000);
            ur.get("grace_ms", &cfg->upgrade.grace_ms, 0, 3600000);
            ur.get("only_in_fill_window", &cfg->upgrade.only_in_fill_window);
            ur.finish();
        }
        if (const toml::table* t = r.subtable("bgp")) {
            toml_util::TableReader br(*t, "edge.bgp", &diag);
            br.get("bird_socket", &cfg->bgp.bird_socket);
            br.get("poll_ms", &cfg->bgp.poll_ms, 100, 600000);
            br.get("stale_ms", &cfg->bgp.stale_ms, 1000, 86400000);
            br.finish();
        }
        if (const toml::table* t = r.subtable("tls")) {
            toml_util::TableReader tr(*t, "edge.tls", &diag);
            TlsCertConfig single;
            tr.get("cert", &single.cert);
            tr.get("key", &single.key);
            if (!single.cert.empty() || !single.key.empty()) cfg->tls.certs.push_back(single);
            if (const toml::node* n = t->get("certificate")) {
                tr.mark_used("certificate");
                const toml::array* arr = n->as_array();
                if (!arr)
                    throw std::runtime_error(
                        "edge.tls.certificate: expected [[edge.tls.certificate]] tables");
                size_t i = 0;
                for (const toml::node& e : *arr) {
                    const toml::table* ct = e.as_table();
                    std::string where = fmt::format("edge.tls.certificate[{}]", i++);
                    if (!ct) throw std::runtime_error(where + ": expected a table");
                    toml_util::TableReader cr(*ct, where, &diag);
                    TlsCertConfig c;
                    if (!cr.get("cert", &c.cert) || !cr.get("key", &c.key))
                        throw std::runtime_error(where + ": cert and key are required");
                    cr.finish();
                    cfg->tls.certs.push_back(c);
                }
            }
            tr.get("min_version", &cfg->tls.min_version);
            tr.get("ktls", &cfg->tls.ktls);
            tr.get("ticket_key_rotation_s", &cfg->tls.ticket_key_rotation_s, 1);
            tr.get("handshakes_per_turn", &cfg->tls.handshakes_per_turn, 1, 100000);
            tr.get("map_bodies", &cfg->tls.map_bodies);
            tr.finish();
        }
        r.get("admin", &cfg->admin);
        r.get("workers", &cfg->workers, 0, 1024);
        r.get("fd_tables", &cfg->fd_tables);
        r.get("congestion_control", &cfg->congestion_control);
        r.get("notsent_lowat", &cfg->notsent_lowat);
        r.get("access_log", &cfg->access_log);
        r.get("access_log_tcp_info_ms", &cfg->access_log_tcp_info_ms, 0, 3600000);
        r.get("server_names", &cfg->server_names);
        r.get("cache_control", &cfg->cache_control);
        r.get("manifest_cache_control", &cfg->manifest_cache_control);
        r.get("access_token", &cfg->access_token);
        r.get("pacing_rate_mbps", &cfg->pacing_rate_mbps);
        r.get("drain_timeout_ms", &cfg->drain_timeout_ms);
        r.get("backlog", &cfg->backlog, 1, 65535);
        r.get("defer_accept", &cfg->defer_accept);
        r.get("header_more", &cfg->header_more);
        r.get("log_level", &cfg->log_level);
        if (const toml::table* t = r.subtable("limits")) {
            toml_util::TableReader l(*t, "edge.limits", &diag);
            Limits& lim = cfg->limits;
            l.get("max_head_bytes", &lim.max_head_bytes, 256, 1 << 20);
            l.get("max_target_bytes", &lim.max_target_bytes, 16, 1 << 20);
            l.get("max_headers", &lim.max_headers, 1, 10000);
            l.get("header_timeout_ms", &lim.header_timeout_ms, 1);
            l.get("idle_timeout_ms", &lim.idle_timeout_ms, 1);
            l.get("send_timeout_ms", &lim.send_timeout_ms, 1);
            l.get("linger_ms", &lim.linger_ms);
            l.get("max_requests_per_connection", &lim.max_requests_per_connection, 1);
            l.get("max_connections", &lim.max_connections);
            l.get("max_connections_per_client", &lim.max_connections_per_client);
            l.get("min_send_rate_bps", &lim.min_send_rate_bps);
            l.get("min_send_rate_after_ms", &lim.min_send_rate_after_ms, 100);
            l.finish();
        }
        if (const toml::table* t = r.subtable("disk")) {
            toml_util::TableReader d(*t, "edge.disk", &diag);
            DiskConfig& dc = cfg->disk;
            d.get("mode", &dc.mode);
            d.get("reader", &dc.reader);

            d.get("readahead_kib", &dc.readahead_kib, 0, 65536);
            d.get("max_reads_per_root", &dc.max_reads_per_root, 1, 4096);
            d.get("health_interval_ms", &dc.health_interval_ms, 10, 600000);
            d.get("stall_ms", &dc.stall_ms, 100);
            d.get("inventory_interval_ms", &dc.inventory_interval_ms);
            d.get("residency_memory_ms", &dc.residency_memory_ms, 0, 3600000);
            d.get("reclaim_counters", &dc.reclaim_counters);
            d.get("residency_recheck", &dc.residency_recheck);
            d.finish();
        }
        if (const toml::table* t = r.subtable("file_cache")) {
            toml_util::TableReader f(*t, "edge.file_cache", &diag);
            f.get("max_entries", &cfg->file_cache.max_entries, 1, 1 << 20);
            f.get("revalidate_ms", &cfg->file_cache.revalidate_ms);
            f.finish();
        }
        r.finish();
    } catch (const toml::parse_error& e) {
        return toml_util::parse_error(source, e);
    } catch (const std::exception& e) {
        diag.add(nullptr, e.what());
    }
    return diag.status();
}

Status load_edge_config_file(const std::string& path, EdgeConfig* cfg) {
    auto text = toml_util::read_text_file(path, "cannot read config");
    if (!text) return text.error();
    return parse_edge_toml(*text, path, cfg);
}

std::vector<ListenerConfig> effective_listeners(const EdgeConfig& cfg) {
    std::vector<ListenerConfig> out;
    for (const std::string& a : cfg.listen)
        out.push_back(ListenerConfig{a, false, -1});
    for (const std::string& a : cfg.tls_listen)
        out.push_back(ListenerConfig{a, true, -1});
    out.insert(out.end(), cfg.listeners.begin(), cfg.listeners.end());
    return out;
}

bool requires_signed(const EdgeConfig& cfg, const ListenerConfig& l) {
    return l.require_signed_urls < 0 ? cfg.require_signed_urls : l.require_signed_urls == 1;
}

Status resolve_token(ControlLinkConfig* c) {
    if (!c->token_file.empty()) {
        std::ifstream in(c->token_file);
        if (!in) return Error::from_errno("token file " + c->token_file);
        std::string line;
        std::getline(in, line);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
            line.pop_back();
        if (line.empty()) return Error{fmt::format("token file {}: empty", c->token_file)};
        c->token = line;
        return {};
    }
    if (c->token.empty())
        if (const char* env = std::getenv("VCDN_EDGE_TOKEN")) c->token = env;
    return {};
}

Status validate(const EdgeConfig& cfg, bool check_roots) {
    if (cfg.roots.empty()) return Error{"no content root: give --root DIR or edge.root"};
    if (!cfg.bgp.bird_socket.empty()) {
        if (cfg.control.url.empty())
            return Error{"bgp: --bird-socket needs the control plane (--control, --id, --token): "
                         "the prefixes go there"};
        if (cfg.bgp.bird_socket.size() >= 108)
            return Error{
                fmt::format("bgp: bird socket path '{}' is over 107 bytes", cfg.bgp.bird_socket)};
    }
    if (!cfg.fill.window.empty()) {
        if (Status s = fill::validate(cfg.fill); !s) return s;
        if (cfg.control.url.empty())
            return Error{"fill: a fill window needs the control plane (--control, --id, --token): "
                         "the manifest of what to hold comes from there"};
    }
    if (cfg.upgrade.only_in_fill_window && cfg.fill.window.empty())
        return Error{"upgrade.only_in_fill_window needs a fill window ([edge.fill] window)"};
    if (!cfg.control.url.empty()) {
        const std::string& u = cfg.control.url;
        auto url = http::parse_base_url(u);
        if (!url) return Error{fmt::format("control url: {}", url.error().message)};
        if (url->https() && cfg.control.ca.empty())
            return Error{fmt::format("control url '{}': give the CA that signs the control "
                                     "plane's certificate (--control-ca, edge.control.ca)",
                                     u)};
        if (!url->https() && !cfg.control.allow_insecure)
            return Error{fmt::format(
                "control url '{}': plain http would carry this edge's token and keys in clear; "
                "use https:// with --control-ca, or --control-insecure in a lab",
                u)};
        if (!cfg.control.ca.empty() && ::access(cfg.control.ca.c_str(), R_OK) != 0)
            return Error{fmt::format("control ca {}: {}", cfg.control.ca, std::strerror(errno))};
        if (cfg.control.id.empty() || cfg.control.token.empty())
            return Error{"control: --control needs --id and a token (--token-file, "
                         "edge.control.token_file, or env VCDN_EDGE_TOKEN)"};
        if (!wire::valid_name(cfg.control.id))
            return Error{fmt::format("control: id '{}': use 1-64 of [A-Za-z0-9_.-], not "
                                     "starting with '.'",
                                     cfg.control.id)};
        for (char ch : cfg.control.token)
            if (ch <= ' ' || ch >= 0x7f)
                return Error{"control: the token has a space or control character"};
    }
    for (const io::RootConfig& rc : cfg.roots) {
        struct stat st {};
        if (rc.path.empty()) return Error{"content root: empty path"};
        if (!check_roots) continue;
        if (::stat(rc.path.c_str(), &st) != 0)
            return Error::from_errno(fmt::format("content root {}", rc.path));
        if (!S_ISDIR(st.st_mode))
            return Error{fmt::format("content root {}: not a directory", rc.path)};
        if (::access(rc.path.c_str(), R_OK | X_OK) != 0)
            return Error::from_errno(fmt::format("content root {}", rc.path));
    }
    for (size_t i = 0; i < cfg.roots.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (cfg.roots[i].path == cfg.roots[j].path)
                return Error{fmt::format("content root {} is listed twice", cfg.roots[i].path)};
    if (cfg.disk.mode != "async" && cfg.disk.mode != "blocking")
        return Error{fmt::format("disk.mode '{}': use async or blocking", cfg.disk.mode)};
    if (cfg.disk.reader != "auto" && cfg.disk.reader != "io_uring" &&
        cfg.disk.reader != "threads" && cfg.disk.reader != "sendfile" &&
        cfg.disk.reader != "populate")
        return Error{
            fmt::format("disk.reader '{}': use auto, io_uring, threads, sendfile or populate",
                        cfg.disk.reader)};
    const std::vector<ListenerConfig> listeners = effective_listeners(cfg);
    if (listeners.empty()) return Error{"no listen address: give --listen ADDR:PORT"};
    if (listeners.size() > 64) return Error{"at most 64 listen addresses"};
    bool any_tls = false, any_signed = false;
    for (const ListenerConfig& l : listeners) {
        auto a = io::parse_socket_address(l.address);
        if (!a) return Error{(l.tls ? "tls_listen: " : "listen: ") + a.error().message};
        any_tls = any_tls || l.tls;
        any_signed = any_signed || requires_signed(cfg, l);
    }
    if (any_tls && cfg.tls.certs.empty())
        return Error{
            "an HTTPS listener needs a certificate: give --cert FILE --key FILE or edge.tls"};
    for (const TlsCertConfig& c : cfg.tls.certs)
        if (c.cert.empty() || c.key.empty())
            return Error{"edge.tls: a certificate needs both cert and key"};
    if (cfg.tls.min_version != "TLSv1.2" && cfg.tls.min_version != "TLSv1.3")
        return Error{
            fmt::format("edge.tls.min_version '{}': use TLSv1.2 or TLSv1.3", cfg.tls.min_version)};
    if (any_signed && cfg.signing_keys.empty() && cfg.control.url.empty())
        return Error{"signed URLs are required but no keys are given: --signing-keys FILE, or "
                     "--control URL to get them from the control plane"};
    if (!cfg.admin.empty()) {
        auto a = io::parse_socket_address(cfg.admin);
        if (!a) return Error{"admin: " + a.error().message};
    }
    if (cfg.congestion_control != "auto" && !cfg.congestion_control.empty() &&
        !io::congestion_control_available(cfg.congestion_control))
        return Error{fmt::format("congestion control '{}' is not available in this kernel ({})",
                                 cfg.congestion_control, io::available_congestion_controls())};
    if (cfg.fd_tables != "per-worker" && cfg.fd_tables != "shared")
        return Error{fmt::format("fd_tables '{}': use per-worker or shared", cfg.fd_tables)};
    if (cfg.access_log.empty()) return Error{"access_log: give a path, '-' (stderr) or 'off'"};
    log::Level lvl;
    if (!log::parse_level(cfg.log_level, &lvl))
        return Error{
            fmt::format("log level '{}': use debug, info, warn, error or off", cfg.log_level)};
    if (cfg.limits.max_target_bytes >= cfg.limits.max_head_bytes)
        return Error{"limits: max_target_bytes must be smaller than max_head_bytes"};
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string&>{"cache_control", cfg.cache_control},
          {"manifest_cache_control", cfg.manifest_cache_control}}) {
        for (char c : value)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return Error{fmt::format("{}: must be one line of printable text", name)};
        if (value.size() > 80) return Error{fmt::format("{}: at most 80 bytes", name)};
    }
    if (cfg.pacing_rate_mbps < 0 || cfg.pacing_rate_mbps > 1e6)
        return Error{"pacing_rate_mbps: 0 (none) to 1000000"};
    for (char c : cfg.access_token)
        if (c <= ' ' || c >= 0x7f) return Error{"access_token: no spaces or control characters"};
    return validate_cors(cfg.cors);
}

// Bounded so that the CORS lines fit the connection's 768-byte head with everything else.
Status validate_cors(const CorsConfig& c) {
    if (!c.enabled) return {};
    if (c.allow_origins.empty())
        return Error{"cors.allow_origins: give \"*\" or the origins (or enabled = false)"};
    if (c.allow_origins.size() > 1000) return Error{"cors.allow_origins: at most 1000"};
    const bool any =
        std::find(c.allow_origins.begin(), c.allow_origins.end(), "*") != c.allow_origins.end();
    if (any && c.allow_origins.size() > 1)
        return Error{"cors.allow_origins: \"*\" stands alone (it already allows every origin)"};
    if (any && c.allow_credentials)
        return Error{"cors.allow_credentials needs a list of origins: browsers refuse \"*\" "
                     "with credentials"};
    if (!any)
        for (const std::string& o : c.allow_origins) {
            // An origin as browsers send it: scheme "://" host [":" port], nothing after.
            const size_t sep = o.find("://");
            const bool scheme_ok = o.starts_with("https://") || o.starts_with("http://");
            bool ok =
                scheme_ok && o.size() <= 100 && sep != std::string::npos && o.size() > sep + 3;
            for (size_t i = sep == std::string::npos ? 0 : sep + 3; ok && i < o.size(); ++i) {
                const char ch = o[i];
                ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                     ch == '.' || ch == ':' || ch == '[' || ch == ']';
            }
            if (!ok)
                return Error{fmt::format(
                    "cors.allow_origins: '{}' is not an origin (http[s]://host[:port], lower "
                    "case, no path, at most 100 bytes)",
                    o.substr(0, 140))};
        }
    size_t header_bytes = 0;
    for (const std::string& h : c.allow_headers) {
        bool ok = !h.empty();
        for (char ch : h)
            ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                        (ch >= '0' && ch <= '9') || ch == '-');
        if (!ok)
            return Error{
                fmt::format("cors.allow_headers: '{}' is not a header name", h.substr(0, 64))};
        header_bytes += h.size() + 2;
    }
    if (header_bytes > 128) return Error{"cors.allow_headers: at most 128 bytes in all"};
    return {};
}

} // namespace vcdn::edge

namespace vcdn::edge {

EdgeConfig live_update(const EdgeConfig& running, uint32_t running_workers, const EdgeConfig& in,
                       std::vector<std::string>* needs_restart) {
    EdgeConfig next = in;
    auto keep = [&](const char* name, auto& field, const auto& old) {
        if (field == old) return;
        needs_restart->push_back(name);
        field = old;
    };
    // Sockets are bound at start; whether each listener requires signed URLs is per request.
    {
        const auto a = effective_listeners(running), b = effective_listeners(next);
        bool same = a.size() == b.size();
        for (size_t i = 0; same && i < a.size(); ++i)
            same = a[i].address == b[i].address && a[i].tls == b[i].tls;
        if (!same) {
            needs_restart->push_back("edge.listen/tls_listen/listener");
            next.listen = running.listen;
            next.tls_listen = running.tls_listen;
            next.listeners = running.listeners;
        }
    }
    keep("edge.root", next.roots, running.roots);
    keep("edge.admin", next.admin, running.admin);
    if (next.workers != running_workers) needs_restart->push_back("edge.workers");
    next.workers = running.workers; // resolved
    keep("edge.fd_tables", next.fd_tables, running.fd_tables);
    // Socket options set on the listeners, which accepted sockets inherit.
    keep("edge.congestion_control", next.congestion_control, running.congestion_control);
    keep("edge.notsent_lowat", next.notsent_lowat, running.notsent_lowat);
    keep("edge.pacing_rate_mbps", next.pacing_rate_mbps, running.pacing_rate_mbps);
    keep("edge.backlog", next.backlog, running.backlog);
    keep("edge.defer_accept", next.defer_accept, running.defer_accept);
    // The writer thread and its file (SIGHUP reopens the same path, for logrotate).
    keep("edge.access_log", next.access_log, running.access_log);
    // Each connection's receive buffer and the decoded-path buffer are sized by these.
    keep("edge.limits.max_head_bytes", next.limits.max_head_bytes, running.limits.max_head_bytes);
    keep("edge.limits.max_target_bytes", next.limits.max_target_bytes,
         running.limits.max_target_bytes);
    keep("edge.tls.ticket_key_rotation_s", next.tls.ticket_key_rotation_s,
         running.tls.ticket_key_rotation_s);
    // The descriptors reserved per worker, the disk reader's threads and rings.
    keep("edge.file_cache", next.file_cache, running.file_cache);
    keep("edge.disk", next.disk, running.disk);
    keep("edge.bgp", next.bgp, running.bgp);
    // The control link (its token is re-read from token_file on every SIGHUP).
    {
        ControlLinkConfig c = next.control;
        c.token = running.control.token;
        if (!(c == running.control)) needs_restart->push_back("edge.control");
        const std::string token = next.control.token;
        next.control = running.control;
        next.control.token = token;
    }
    // The fill: window, rate, bytes per window and parallel transfers are live.
    {
        fill::FillConfig f = running.fill;
        f.window = next.fill.window;
        f.rate_mbps = next.fill.rate_mbps;
        f.max_bytes_per_window = next.fill.max_bytes_per_window;
        f.parallel = next.fill.parallel;
        if (!(f == next.fill))
            needs_restart->push_back("edge.fill (beyond window, rate_mbps, "
                                     "max_bytes_per_window, parallel)");
        // A fill started or stopped needs a restart too (the filler runs or it does not).
        if (running.fill.window.empty() != next.fill.window.empty()) {
            needs_restart->push_back("edge.fill.window (fill on or off)");
            f.window = running.fill.window;
        }
        next.fill = f;
    }
    return next;
}

} // namespace vcdn::edge
