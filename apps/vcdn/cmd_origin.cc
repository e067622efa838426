// `vcdn origin`: the master copy of every file, served to edges that fill from it (and to
// players as the last resort). The edge's serving code with origin defaults: no control plane;
// with --signing-keys and --require-signed-urls it takes only URLs the control plane signed with
// the origin's own key (the fleet's origin.signing_keys), for fill and players alike.
#include <memory>

#include <vcdn/edge/config.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct OriginFlags {
    std::string config_path;
    std::vector<std::string> roots;
    std::vector<std::string> listen;
    std::string token_file;
    std::string signing_keys;
    bool require_signed = false;
    std::string admin;
    std::string access_log;
    std::string log_level;
    uint32_t workers = 0;
    bool check_config = false;
};
} // namespace

Runner add_origin(CLI::App& app) {
    auto f = std::make_shared<OriginFlags>();
    CLI::App* cmd = app.add_subcommand(
        "origin", "Serve the master copy of the catalog to filling edges (HTTP, range requests).");
    cmd->add_option("--config", f->config_path, "TOML config file (its [edge] section)");
    cmd->add_option("--root", f->roots, "Directory holding the catalog (repeatable)");
    cmd->add_option("--listen", f->listen, "Listen address ADDR:PORT (repeatable; port 0 = any)");
    cmd->add_option("--signing-keys", f->signing_keys,
                    "The origin's key file (the fleet's origin.signing_keys): the keys its URLs "
                    "are signed with");
    cmd->add_flag("--require-signed-urls", f->require_signed,
                  "Answer 403 to requests without a URL signed with the origin's key");
    cmd->add_option("--token-file", f->token_file,
                    "Also require 'Authorization: Bearer <the token in this file>' (a private "
                    "origin that only tools reach)");
    cmd->add_option("--admin", f->admin, "Admin listener ADDR:PORT for /metrics, /healthz");
    cmd->add_option("--workers", f->workers, "Worker threads (default: one per core)");
    cmd->add_option("--access-log", f->access_log, "Access log: a file, '-' for stderr, or 'off'");
    cmd->add_option("--log-level", f->log_level, "debug, info, warn, error");
    cmd->add_flag("--check-config", f->check_config,
                  "Check the config (and the files it names) as a start would, and exit: 0 "
                  "good, 2 with one line per problem");
    cmd->footer("Example: vcdn origin --root /srv/catalog --listen 0.0.0.0:8000 --signing-keys "
                "/etc/vcdn/origin.keys --require-signed-urls\n"
                "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reads the config again (live "
                "settings as for vcdn edge), reopens the access log and reloads the signing keys; "
                "SIGUSR2 upgrades in place as vcdn edge does.");
    // Read at start and again on SIGHUP: the file, then the flags over it.
    auto load = [f, cmd]() -> Result<edge::EdgeConfig> {
        edge::EdgeConfig cfg;
        if (Status s = load_server_config(f->config_path, f->roots, &cfg); !s) return s.error();
        if (cfg.roots.empty()) return Error{"give --root DIR (the catalog's directory)"};
        if (!f->listen.empty()) cfg.listen = f->listen;
        if (cfg.listen.empty() && cfg.tls_listen.empty() && cfg.listeners.empty())
            cfg.listen = {"0.0.0.0:8000"};
        if (!f->token_file.empty()) {
            edge::ControlLinkConfig tmp;
            tmp.token_file = f->token_file;
            if (Status st = edge::resolve_token(&tmp); !st) return st.error();
            cfg.access_token = tmp.token;
        }
        if (!f->signing_keys.empty()) cfg.signing_keys = f->signing_keys;
        if (f->require_signed) cfg.require_signed_urls = true;
        if (!f->admin.empty()) cfg.admin = f->admin;
        if (cmd->count("--workers")) cfg.workers = f->workers;
        if (!f->access_log.empty()) cfg.access_log = f->access_log;
        if (!f->log_level.empty()) cfg.log_level = f->log_level;
        if (!cfg.control.url.empty())
            return Error{"an origin has no control plane (edge.control.url is set in the config)"};
        return cfg;
    };
    return [f, load]() -> int { return run_edge_server(load, "origin", f->check_config); };
}

} // namespace vcdn::app
