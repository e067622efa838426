#include <vcdn/edge/config.h>

#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include <vcdn/base/log.h>
#include <vcdn/base/toml_util.h>
#include <vcdn/io/address.h>
#include <vcdn/io/tcp.h>

namespace vcdn::edge {

Status parse_edge_toml(std::string_view text, std::string_view source, EdgeConfig* cfg) {
    try {
        toml::table doc = toml::parse(text, source);
        toml_util::TableReader top(doc, std::string(source));
        const toml::table* edge = top.subtable("edge");
        // Other sections ([control], [player], ...) belong to other subcommands sharing the file.
        if (!edge) return {};
        toml_util::TableReader r(*edge, "edge");
        std::vector<std::string> roots;
        if (r.get_one_or_many("root", &roots)) {
            cfg->roots.clear();
            for (const std::string& spec : roots)
                cfg->roots.push_back(parse_root_spec(spec));
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
                toml_util::TableReader rt(*t, where);
                RootConfig rc;
                if (!rt.get("path", &rc.path))
                    throw std::runtime_error(where + ": path is required");
                std::string tier;
                if (rt.get("tier", &tier) && !parse_tier(tier, &rc.tier))
                    throw std::runtime_error(where + ".tier: use \"flash\" or \"disk\"");
                rt.finish();
                cfg->roots.push_back(rc);
            }
        }
        r.get_one_or_many("listen", &cfg->listen);
        r.get("admin", &cfg->admin);
        r.get("workers", &cfg->workers, 0, 1024);
        r.get("congestion_control", &cfg->congestion_control);
        r.get("notsent_lowat", &cfg->notsent_lowat);
        r.get("access_log", &cfg->access_log);
        r.get("server_names", &cfg->server_names);
        r.get("cache_control", &cfg->cache_control);
        r.get("drain_timeout_ms", &cfg->drain_timeout_ms);
        r.get("backlog", &cfg->backlog, 1, 65535);
        r.get("defer_accept", &cfg->defer_accept);
        r.get("header_more", &cfg->header_more);
        r.get("log_level", &cfg->log_level);
        if (const toml::table* t = r.subtable("limits")) {
            toml_util::TableReader l(*t, "edge.limits");
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
            l.finish();
        }
        if (const toml::table* t = r.subtable("disk")) {
            toml_util::TableReader d(*t, "edge.disk");
            DiskConfig& dc = cfg->disk;
            d.get("mode", &dc.mode);
            d.get("reader", &dc.reader);

            d.get("readahead_kib", &dc.readahead_kib, 0, 65536);
            d.get("max_reads_per_root", &dc.max_reads_per_root, 1, 4096);
            d.get("health_interval_ms", &dc.health_interval_ms, 10, 600000);
            d.get("stall_ms", &dc.stall_ms, 100);
            d.get("inventory_interval_ms", &dc.inventory_interval_ms);
            d.finish();
        }
        if (const toml::table* t = r.subtable("file_cache")) {
            toml_util::TableReader f(*t, "edge.file_cache");
            f.get("max_entries", &cfg->file_cache.max_entries, 1, 1 << 20);
            f.get("revalidate_ms", &cfg->file_cache.revalidate_ms);
            f.finish();
        }
        r.finish();
    } catch (const toml::parse_error& e) {
        return Error{fmt::format("{}:{}:{}: {}", source, e.source().begin.line,
                                 e.source().begin.column, e.description())};
    } catch (const std::exception& e) {
        return Error{fmt::format("{}: {}", source, e.what())};
    }
    return {};
}

Status load_edge_config_file(const std::string& path, EdgeConfig* cfg) {
    std::ifstream in(path);
    if (!in) return Error::from_errno("cannot read config " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return parse_edge_toml(ss.str(), path, cfg);
}

Status validate(const EdgeConfig& cfg) {
    if (cfg.roots.empty()) return Error{"no content root: give --root DIR or edge.root"};
    for (const RootConfig& rc : cfg.roots) {
        struct stat st {};
        if (rc.path.empty()) return Error{"content root: empty path"};
        if (::stat(rc.path.c_str(), &st) != 0)
            return Error::from_errno(fmt::format("content root {}", rc.path));
        if (!S_ISDIR(st.st_mode))
            return Error{fmt::format("content root {}: not a directory", rc.path)};
        if (::access(rc.path.c_str(), R_OK | X_OK) != 0)
            return Error::from_errno(fmt::format("content root {}", rc.path));
    }
    if (cfg.disk.mode != "async" && cfg.disk.mode != "blocking")
        return Error{fmt::format("disk.mode '{}': use async or blocking", cfg.disk.mode)};
    if (cfg.disk.reader != "auto" && cfg.disk.reader != "io_uring" && cfg.disk.reader != "threads")
        return Error{
            fmt::format("disk.reader '{}': use auto, io_uring or threads", cfg.disk.reader)};
    if (cfg.listen.empty()) return Error{"no listen address: give --listen ADDR:PORT"};
    for (const std::string& l : cfg.listen) {
        auto a = io::parse_socket_address(l);
        if (!a) return Error{"listen: " + a.error().message};
    }
    if (!cfg.admin.empty()) {
        auto a = io::parse_socket_address(cfg.admin);
        if (!a) return Error{"admin: " + a.error().message};
    }
    if (cfg.congestion_control != "auto" && !cfg.congestion_control.empty() &&
        !io::congestion_control_available(cfg.congestion_control))
        return Error{fmt::format("congestion control '{}' is not available in this kernel ({})",
                                 cfg.congestion_control, io::available_congestion_controls())};
    if (cfg.access_log.empty()) return Error{"access_log: give a path, '-' (stderr) or 'off'"};
    log::Level lvl;
    if (!log::parse_level(cfg.log_level, &lvl))
        return Error{
            fmt::format("log level '{}': use debug, info, warn, error or off", cfg.log_level)};
    if (cfg.limits.max_target_bytes >= cfg.limits.max_head_bytes)
        return Error{"limits: max_target_bytes must be smaller than max_head_bytes"};
    for (char c : cfg.cache_control)
        if (c == '\r' || c == '\n') return Error{"cache_control: must be one line"};
    return {};
}

} // namespace vcdn::edge
