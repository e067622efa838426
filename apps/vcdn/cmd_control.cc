#include <csignal>
#include <cstdio>
#include <memory>

#include <vcdn/base/log.h>
#include <vcdn/control/config.h>
#include <vcdn/control/server.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct ControlFlags {
    std::string config_path, listen, db, fleet, admin_token, steering_log, log_level;
    uint32_t threads = 0;
};
} // namespace

Runner add_control(CLI::App& app) {
    auto f = std::make_shared<ControlFlags>();
    CLI::App* cmd = app.add_subcommand(
        "control", "Run the control plane: fleet registry, edge health, steering, dashboard.");
    cmd->add_option("--config", f->config_path, "TOML config file ([control] section)");
    cmd->add_option("--listen", f->listen, "API and dashboard address ADDR:PORT (port 0 = any)");
    cmd->add_option("--db", f->db,
                    "State: sqlite:PATH (default sqlite:vcdn-control.db) or "
                    "postgres://user@host/db");
    cmd->add_option(
        "--fleet", f->fleet,
        "Fleet TOML ([origin], [[site]], [[site.edge]]) applied at start and on SIGHUP");
    cmd->add_option("--admin-token", f->admin_token,
                    "Bearer token for admin calls (or env VCDN_ADMIN_TOKEN)");
    cmd->add_option("--threads", f->threads, "API threads (default: one per core)");
    cmd->add_option("--steering-log", f->steering_log,
                    "One JSON line per steering decision: a file, '-' for stderr, or 'off'");
    cmd->add_option("--log-level", f->log_level, "debug, info, warn, error");
    cmd->footer("API: docs/api.md. Signals: SIGTERM/SIGINT stop; SIGHUP applies the fleet file "
                "again and reopens the steering log.\nConfig reference: README.md, section "
                "'Control configuration'.");

    return [f, cmd]() -> int {
        control::ControlConfig cfg;
        if (!f->config_path.empty()) {
            if (Status s = control::load_control_config_file(f->config_path, &cfg); !s) {
                std::fprintf(stderr, "vcdn control: %s\n", s.error().message.c_str());
                return 2;
            }
        }
        if (!f->listen.empty()) cfg.listen = f->listen;
        if (!f->db.empty()) cfg.db = f->db;
        if (!f->fleet.empty()) cfg.fleet = f->fleet;
        if (!f->admin_token.empty()) cfg.admin_token = f->admin_token;
        if (cfg.admin_token.empty())
            if (const char* env = std::getenv("VCDN_ADMIN_TOKEN")) cfg.admin_token = env;
        if (cmd->count("--threads")) cfg.threads = f->threads;
        if (!f->steering_log.empty()) cfg.steering_log = f->steering_log;
        if (!f->log_level.empty()) cfg.log_level = f->log_level;
        if (Status s = control::validate(cfg); !s) {
            std::fprintf(stderr, "vcdn control: %s\n", s.error().message.c_str());
            return 2;
        }
        log::Level lvl;
        log::parse_level(cfg.log_level, &lvl);
        log::set_level(lvl);

        block_signals();
        auto server = control::ControlServer::create(cfg);
        if (!server) {
            std::fprintf(stderr, "vcdn control: %s\n", server.error().message.c_str());
            return 1;
        }
        if (Status s = (*server)->start(); !s) {
            std::fprintf(stderr, "vcdn control: %s\n", s.error().message.c_str());
            return 1;
        }
        log::info("control: listening http://{}", (*server)->address().to_string());
        for (;;) {
            int sig = wait_signal(1000);
            if (sig == SIGHUP) {
                (*server)->reopen_logs();
                (void)(*server)->reload_fleet();
                continue;
            }
            if (sig == SIGTERM || sig == SIGINT) break;
        }
        (*server)->stop();
        log::info("control: stopped");
        return 0;
    };
}

} // namespace vcdn::app
