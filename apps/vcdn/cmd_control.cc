#include <csignal>
#include <cstdio>
#include <memory>

#include <unistd.h>

#include <fmt/format.h>

#include <vcdn/auth/signed_url.h>
#include <vcdn/base/log.h>
#include <vcdn/control/config.h>
#include <vcdn/control/fleet.h>
#include <vcdn/control/fleet_diff.h>
#include <vcdn/control/server.h>
#include <vcdn/control/store.h>
#include <vcdn/tls/server_context.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct ControlFlags {
    std::string config_path, listen, edge_listen, admin_listen, db, fleet, admin_token_file,
        read_token_file, tls_cert, tls_key, steering_log, log_level, check_fleet;
    uint32_t threads = 0;
    bool check_config = false;
};

// --check-config: the config and every file it names, as a start would read them.
// What a start would refuse in its config and the files it names (fleet, session keys, TLS),
// one line per problem; empty when there is none. *fleet_summary: what the fleet file holds.
std::string control_config_problems(const control::ControlConfig& cfg, std::string* fleet_summary) {
    if (Status s = control::validate(cfg); !s) return s.error().message;
    std::string problems;
    auto problem = [&](const std::string& p) { problems += (problems.empty() ? "" : "\n") + p; };
    if (!cfg.fleet.empty()) {
        auto fleet = control::load_fleet_file(cfg.fleet);
        if (!fleet) {
            problem(fleet.error().message);
        } else {
            size_t edges = 0;
            for (const control::SiteSpec& site : fleet->sites)
                edges += site.edges.size();
            *fleet_summary = fmt::format(", fleet {} ({} sites, {} edges)", cfg.fleet,
                                         fleet->sites.size(), edges);
        }
    }
    if (!cfg.steering.session_keys.empty())
        if (auto k = auth::KeySet::load(cfg.steering.session_keys); !k)
            problem("steering.session_keys: " + k.error().message);
    if (!cfg.tls.cert.empty()) {
        tls::ServerOptions o;
        o.certs = {tls::CertFiles{cfg.tls.cert, cfg.tls.key}};
        o.ktls = false;
        if (auto ctx = tls::ServerContext::build(o, std::make_shared<tls::TicketKeys>()); !ctx)
            problem("tls: " + ctx.error().message);
    }
    return problems;
}

int check_control_config(const control::ControlConfig& cfg) {
    std::string fleet_summary;
    if (std::string problems = control_config_problems(cfg, &fleet_summary); !problems.empty()) {
        print_errors("control", problems);
        return 2;
    }
    std::printf("vcdn control: config ok: listen %s%s%s, db %s%s\n", cfg.listen.c_str(),
                cfg.edge_listen.empty() ? "" : (", edges on " + cfg.edge_listen).c_str(),
                cfg.admin_listen.empty() ? "" : (", admin on " + cfg.admin_listen).c_str(),
                cfg.db.c_str(), fleet_summary.c_str());
    return 0;
}

// --check-fleet FILE: the file's problems (one line each, exit 2), or what applying it would
// change against the fleet in the database (when there is one), exit 0.
int check_fleet(const control::ControlConfig& cfg, const std::string& path) {
    auto fleet = control::load_fleet_file(path);
    if (!fleet) {
        print_errors("control", fleet.error().message);
        return 2;
    }
    size_t edges = 0;
    for (const control::SiteSpec& site : fleet->sites)
        edges += site.edges.size();
    std::printf("vcdn control: fleet %s ok: %zu sites, %zu edges\n", path.c_str(),
                fleet->sites.size(), edges);
    // The running fleet: the database's (never created here).
    if (cfg.db.rfind("sqlite:", 0) == 0 && ::access(cfg.db.c_str() + 7, R_OK) != 0) {
        std::printf("no fleet to compare with: %s does not exist\n", cfg.db.c_str() + 7);
        return 0;
    }
    auto store = control::Store::open(cfg.db);
    if (!store) {
        std::fprintf(stderr, "vcdn control: cannot compare with %s: %s\n", cfg.db.c_str(),
                     store.error().message.c_str());
        return 1;
    }
    auto snap = (*store)->snapshot();
    if (!snap) {
        std::fprintf(stderr, "vcdn control: cannot compare with %s: %s\n", cfg.db.c_str(),
                     snap.error().message.c_str());
        return 1;
    }
    const control::FleetDiff d =
        control::diff_fleets(snap->fleet, *fleet, snap->files, snap->demand);
    if (d.empty()) {
        std::printf("against %s: no change\n", cfg.db.c_str());
        return 0;
    }
    std::printf("against %s (%zu catalog files):\n", cfg.db.c_str(), snap->files.size());
    for (const std::string& line : d.lines)
        std::printf("  %s\n", line.c_str());
    return 0;
}
} // namespace

Runner add_control(CLI::App& app) {
    auto f = std::make_shared<ControlFlags>();
    CLI::App* cmd = app.add_subcommand(
        "control", "Run the control plane: fleet registry, edge health, steering, dashboard.");
    cmd->add_option("--config", f->config_path, "TOML config file ([control] section)");
    cmd->add_option("--listen", f->listen,
                    "Public listener ADDR:PORT for players: steering, QoE, /healthz; also the edge "
                    "and admin calls unless --edge-listen/--admin-listen (port 0 = any)");
    cmd->add_option("--edge-listen", f->edge_listen,
                    "Listener for edges (heartbeats, manifests), e.g. with TLS on a separate port");
    cmd->add_option("--admin-listen", f->admin_listen,
                    "Listener for operators: the rest of the API, the dashboard, /metrics");
    cmd->add_option("--db", f->db,
                    "State: sqlite:PATH (default sqlite:vcdn-control.db) or "
                    "postgres://user@host/db");
    cmd->add_option(
        "--fleet", f->fleet,
        "Fleet TOML ([origin], [[site]], [[site.edge]]) applied at start and on SIGHUP");
    cmd->add_option(
        "--admin-token-file", f->admin_token_file,
        "File holding the admin bearer token (or env VCDN_ADMIN_TOKEN); 16+ characters");
    cmd->add_option(
        "--read-token-file", f->read_token_file,
        "File holding the read-only bearer token: dashboard, GET calls, /metrics (or env "
        "VCDN_READ_TOKEN)");
    cmd->add_option("--tls-cert", f->tls_cert, "PEM certificate chain: HTTPS on every listener");
    cmd->add_option("--tls-key", f->tls_key, "PEM private key of --tls-cert");
    cmd->add_option("--threads", f->threads, "API threads (default: one per core)");
    cmd->add_option("--steering-log", f->steering_log,
                    "One JSON line per steering decision: a file, '-' for stderr, or 'off'");
    cmd->add_option("--log-level", f->log_level, "debug, info, warn, error");
    cmd->add_flag("--check-config", f->check_config,
                  "Check the config and the files it names (fleet, keys, certificate) as a "
                  "start would, and exit: 0 good, 2 with one line per problem");
    cmd->add_option("--check-fleet", f->check_fleet,
                    "Check a fleet file (exit 2 with one line per problem) and show what "
                    "applying it would change against the fleet in --db: sites and edges "
                    "added, removed, changed, and what placement would move");
    cmd->footer("API: docs/api.md. Signals: SIGTERM/SIGINT stop; SIGHUP applies the fleet file "
                "again, reloads the TLS certificate and the session keys and reopens the steering "
                "log.\nSecrets come "
                "from files or the environment, never from the command line.\nConfig reference: "
                "README.md, section 'Control configuration'.");

    return [f, cmd]() -> int {
        control::ControlConfig cfg;
        if (!f->config_path.empty()) {
            if (Status s = control::load_control_config_file(f->config_path, &cfg); !s) {
                print_errors("control", s.error().message);
                return 2;
            }
        }
        if (!f->listen.empty()) cfg.listen = f->listen;
        if (!f->edge_listen.empty()) cfg.edge_listen = f->edge_listen;
        if (!f->admin_listen.empty()) cfg.admin_listen = f->admin_listen;
        if (!f->db.empty()) cfg.db = f->db;
        if (!f->fleet.empty()) cfg.fleet = f->fleet;
        if (!f->tls_cert.empty()) cfg.tls.cert = f->tls_cert;
        if (!f->tls_key.empty()) cfg.tls.key = f->tls_key;
        for (auto [file, out] : {std::pair{&f->admin_token_file, &cfg.admin_token},
                                 std::pair{&f->read_token_file, &cfg.read_token}}) {
            if (file->empty()) continue;
            auto t = control::read_secret_file(*file);
            if (!t) {
                std::fprintf(stderr, "vcdn control: %s\n", t.error().message.c_str());
                return 2;
            }
            *out = *t;
        }
        if (cfg.admin_token.empty())
            if (const char* env = std::getenv("VCDN_ADMIN_TOKEN")) cfg.admin_token = env;
        if (cfg.read_token.empty())
            if (const char* env = std::getenv("VCDN_READ_TOKEN")) cfg.read_token = env;
        if (cmd->count("--threads")) cfg.threads = f->threads;
        if (!f->steering_log.empty()) cfg.steering_log = f->steering_log;
        if (!f->log_level.empty()) cfg.log_level = f->log_level;
        if (!f->check_fleet.empty()) return check_fleet(cfg, f->check_fleet);
        if (f->check_config) return check_control_config(cfg);
        // A bad config or file it names (fleet, keys, certificate) is exit 2, named line by
        // line, not a failure to start.
        std::string fleet_summary;
        if (std::string problems = control_config_problems(cfg, &fleet_summary);
            !problems.empty()) {
            print_errors("control", problems);
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
        for (const auto& l : (*server)->listeners())
            log::info("control: listening {}://{} ({})", l.tls ? "https" : "http",
                      l.address.to_string(), l.name);
        sd::ready(fmt::format("{} listener(s), database {}", (*server)->listeners().size(),
                              cfg.db.rfind("postgres", 0) == 0 ? "postgresql" : "sqlite"));
        // The watchdog is fed while the sync loop (health, database, steering's view) turns.
        Watchdog wd(sd::watchdog_usec());
        const int64_t stall_limit_ms =
            std::max<int64_t>(2 * wd.half_ms, 10 * int64_t{cfg.sync_interval_ms});
        for (;;) {
            int sig = wait_signal(wd.wait_ms(1000));
            if (wd.due()) {
                const int64_t stalled = (*server)->sync_stalled_ms();
                if (!wd.feed(stalled <= stall_limit_ms))
                    log::warn("control: the sync loop has not turned for {} ms: the watchdog is "
                              "not fed",
                              stalled);
            }
            if (sig == SIGHUP) {
                sd::reloading();
                (*server)->reopen_logs();
                (void)(*server)->reload_tls();
                (void)(*server)->reload_session_keys();
                (void)(*server)->reload_fleet();
                sd::ready();
                continue;
            }
            if (sig == SIGTERM || sig == SIGINT) break;
        }
        sd::stopping();
        (*server)->stop();
        log::info("control: stopped");
        return 0;
    };
}

} // namespace vcdn::app
