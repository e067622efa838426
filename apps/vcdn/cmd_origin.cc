// `vcdn origin`: the master copy of every file, served to edges that fill from it. The edge's
// serving code with origin defaults: no control plane, no signed URLs, an optional bearer token.
#include <memory>

#include <vcdn/edge/config.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct OriginFlags {
    std::string config_path;
    std::vector<std::string> roots;
    std::vector<std::string> listen;
    std::string token;
    std::string admin;
    std::string access_log;
    std::string log_level;
    uint32_t workers = 0;
};
} // namespace

Runner add_origin(CLI::App& app) {
    auto f = std::make_shared<OriginFlags>();
    CLI::App* cmd = app.add_subcommand(
        "origin", "Serve the master copy of the catalog to filling edges (HTTP, range requests).");
    cmd->add_option("--config", f->config_path, "TOML config file (its [edge] section)");
    cmd->add_option("--root", f->roots, "Directory holding the catalog (repeatable)");
    cmd->add_option("--listen", f->listen, "Listen address ADDR:PORT (repeatable; port 0 = any)");
    cmd->add_option("--token", f->token,
                    "Require 'Authorization: Bearer TOKEN' (the fleet's origin.fill_token)");
    cmd->add_option("--admin", f->admin, "Admin listener ADDR:PORT for /metrics, /healthz");
    cmd->add_option("--workers", f->workers, "Worker threads (default: one per core)");
    cmd->add_option("--access-log", f->access_log, "Access log: a file, '-' for stderr, or 'off'");
    cmd->add_option("--log-level", f->log_level, "debug, info, warn, error");
    cmd->footer("Example: vcdn origin --root /srv/catalog --listen 0.0.0.0:8000 --token SECRET\n"
                "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reopens the access log.");
    return [f, cmd]() -> int {
        edge::EdgeConfig cfg;
        if (!load_server_config(f->config_path, f->roots, "origin", &cfg)) return 2;
        if (cfg.roots.empty()) {
            std::fprintf(stderr, "vcdn origin: give --root DIR (the catalog's directory)\n");
            return 2;
        }
        if (!f->listen.empty()) cfg.listen = f->listen;
        if (cfg.listen.empty() && cfg.tls_listen.empty() && cfg.listeners.empty())
            cfg.listen = {"0.0.0.0:8000"};
        if (!f->token.empty()) cfg.access_token = f->token;
        if (!f->admin.empty()) cfg.admin = f->admin;
        if (cmd->count("--workers")) cfg.workers = f->workers;
        if (!f->access_log.empty()) cfg.access_log = f->access_log;
        if (!f->log_level.empty()) cfg.log_level = f->log_level;
        if (!cfg.control.url.empty()) {
            std::fprintf(stderr, "vcdn origin: an origin has no control plane (edge.control.url "
                                 "is set in the config)\n");
            return 2;
        }
        return run_edge_server(std::move(cfg), "origin");
    };
}

} // namespace vcdn::app
