#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include <vcdn/base/log.h>
#include <vcdn/base/sd_notify.h>
#include <vcdn/base/time.h>
#include <vcdn/edge/config.h>
#include <vcdn/edge/server.h>
#include <vcdn/fill/fill.h>

#include "commands.h"
#include "upgrade.h"

namespace vcdn::app {

namespace {
struct EdgeFlags {
    std::string config_path;
    std::vector<std::string> roots;
    std::vector<std::string> listen;
    std::vector<std::string> tls_listen;
    std::string cert, key, signing_keys;
    bool require_signed = false;
    std::string admin;
    uint32_t workers = 0;
    bool workers_set = false;
    std::string access_log;
    std::string congestion_control;
    uint32_t max_connections = 0;
    std::vector<std::string> server_names;
    std::string log_level;
    std::string cache_control;
    std::optional<std::string> manifest_cache_control;
    std::string control_url, control_ca, control_id, control_token_file;
    bool control_insecure = false;
    std::string fill_window;
    double fill_rate = 0;
    uint32_t fill_parallel = 0;
    double scrub_rate = 0;
    std::string bird_socket;
    bool check_config = false;
};
} // namespace

Status load_server_config(const std::string& config_path, const std::vector<std::string>& roots,
                          edge::EdgeConfig* cfg) {
    if (!config_path.empty())
        if (Status s = edge::load_edge_config_file(config_path, cfg); !s) return s;
    if (!roots.empty()) {
        cfg->roots.clear();
        for (const std::string& spec : roots)
            cfg->roots.push_back(io::parse_root_spec(spec));
    }
    return {};
}

int run_edge_server(const ServerConfigLoader& load, const char* name, bool check_only) {
    // First: a SIGHUP or SIGUSR2 (a reload or an upgrade sent early) must wait, not kill.
    block_signals();
    auto loaded = load();
    if (!loaded) {
        print_errors(name, loaded.error().message);
        return 2;
    }
    edge::EdgeConfig cfg = std::move(*loaded);
    if (check_only) {
        auto ok = edge::check_config(cfg);
        if (!ok) {
            print_errors(name, ok.error().message);
            return 2;
        }
        std::printf("vcdn %s: config ok: %s\n", name, ok->c_str());
        return 0;
    }
    // What --check-config checks (values, keys, certificates) is a bad config: exit 2. What
    // fails after it (a port taken, the kernel) is a run-time failure: exit 1.
    if (auto ok = edge::check_config(cfg); !ok) {
        print_errors(name, ok.error().message);
        return 2;
    }
    log::Level lvl;
    log::parse_level(cfg.log_level, &lvl);
    log::set_level(lvl);

    // Started by an upgrade: the old process's sockets, and the channel to it.
    edge::Handoff handoff;
    std::unique_ptr<UpgradeChild> parent = UpgradeChild::from_environment(&handoff);
    auto server = edge::EdgeServer::create(cfg, parent ? &handoff : nullptr);
    if (!server) {
        std::fprintf(stderr, "vcdn %s: %s\n", name, server.error().message.c_str());
        return 1;
    }
    if (Status s = (*server)->start(); !s) {
        std::fprintf(stderr, "vcdn %s: %s\n", name, s.error().message.c_str());
        return 1;
    }
    for (const auto& l : (*server)->listeners())
        log::info("edge: listening {}://{}{}", l.tls ? "https" : "http", l.address.to_string(),
                  l.require_signed ? " (signed URLs required)" : "");
    for (const auto& a : (*server)->admin_addresses())
        log::info("edge: admin http://{}", a.to_string());
    // Listeners bound, roots scanned, workers running: a Type=notify unit is started (or the
    // process that started this one for an upgrade is told).
    if (parent)
        parent->ready();
    else
        sd::ready(fmt::format("serving on {} listener(s)", (*server)->listeners().size()));
    // The watchdog is fed every half interval while every worker's loop answers (not while
    // this process is being started by an upgrade: it is not the service's yet, and its
    // health goes to the old process instead, from the same pings).
    Watchdog wd(sd::watchdog_usec());
    auto feed = [&] {
        if (wd.due() && !parent && !wd.feed((*server)->workers_alive()))
            log::warn("{}: a worker did not answer in {} ms: the watchdog is not fed", name,
                      wd.half_ms);
    };
    bool alive = true;

    std::unique_ptr<UpgradeAttempt> upgrade;           // this process hands over to a new one
    std::vector<std::unique_ptr<UpgradeAttempt>> gone; // failed ones, until reaped
    bool upgrade_wanted = false, said_waiting = false, paused = false;
    int64_t next_child_check = 0;
    auto in_fill_window = [&]() {
        auto w = fill::FillWindow::parse((*server)->config()->fill.window);
        return w && w->contains(fill::local_minute_of_day(realtime_ns() / 1000000000));
    };
    bool retired = false; // not the service (handed over, or rolled back)
    std::string failure;  // a worker ended by itself: drain, then exit 1
    int stop_signals = 0; // SIGTERM/SIGINT seen: the second cuts the drain short
    for (;;) {
        const bool busy = parent || upgrade || upgrade_wanted || !gone.empty();
        int sig = wait_signal(wd.wait_ms(busy ? 100 : 1000));
        feed();
        if (!parent) { // (a process started by an upgrade tells the old one: its health below)
            failure = (*server)->worker_failure();
            if (!failure.empty()) {
                // Its connections are gone and its listening sockets take no more: the rest of
                // the edge drains and the process exits with a failure, for the service manager
                // (Restart=on-failure) to start it again. Not "STOPPING": this is no stop the
                // manager asked for. The watchdog is fed on from the workers that still run.
                log::error("{}: {}: draining the other workers (up to {} ms), then exiting with "
                           "status 1",
                           name, failure, (*server)->config()->drain_timeout_ms);
                sd::notify(fmt::format("STATUS=failed: {}; draining", failure));
                if (upgrade) {
                    log::warn("upgrade: abandoned: this process stops");
                    upgrade->abandon();
                    gone.push_back(std::move(upgrade));
                }
                (*server)->begin_drain();
                break;
            }
        }
        if (sig == SIGTERM || sig == SIGINT) {
            ++stop_signals;
            log::info("{}: {} received: draining (up to {} ms)", name,
                      sig == SIGTERM ? "SIGTERM" : "SIGINT", (*server)->config()->drain_timeout_ms);
            if (upgrade) {
                log::warn("upgrade: abandoned: this process stops");
                upgrade->abandon();
                gone.push_back(std::move(upgrade));
            }
            if (parent) {
                // Stopped before it became the service (a rollback): it speaks for nobody.
                (*server)->retire();
                retired = true;
            }
            sd::stopping("draining");
            (*server)->begin_drain();
            break;
        }
        if (parent && monotonic_ms() >= next_child_check) {
            // Health for the old process: every worker's loop answers, storage is up.
            next_child_check = monotonic_ms() + 250;
            const bool workers_ok = (*server)->workers_alive();
            std::string problem = (*server)->health_problem();
            if (problem.empty() && !workers_ok && !alive) problem = "a worker does not answer";
            alive = workers_ok;
            const auto verdict = parent->tick(problem);
            if (verdict == UpgradeChild::Verdict::kTakeOver) {
                parent.reset();
                (*server)->count_upgrade(true);
                sd::set_muted(false);
                sd::notify(fmt::format("READY=1\nSTATUS=serving on {} listener(s)",
                                       (*server)->listeners().size()));
                (*server)->start_fill();
            } else if (verdict == UpgradeChild::Verdict::kAbandoned) {
                // Rolled back: the old process accepts again; this one drains what it took.
                (*server)->retire();
                retired = true;
                (*server)->begin_drain();
                break;
            }
        }
        for (size_t i = 0; i < gone.size();)
            if (gone[i]->reap(int64_t{(*server)->config()->drain_timeout_ms} + 5000))
                gone.erase(gone.begin() + static_cast<std::ptrdiff_t>(i));
            else
                ++i;
        if (sig == SIGUSR2) {
            if (parent)
                log::warn("upgrade: SIGUSR2 ignored: this process is itself being started by an "
                          "upgrade");
            else if (upgrade || upgrade_wanted)
                log::warn("upgrade: SIGUSR2 ignored: an upgrade is under way");
            else
                upgrade_wanted = true;
        }
        if (upgrade_wanted && !upgrade) {
            const edge::UpgradeConfig& uc = (*server)->config()->upgrade;
            if (uc.only_in_fill_window && !in_fill_window()) {
                if (!said_waiting)
                    log::info("upgrade: requested; waits for the fill window ({})",
                              (*server)->config()->fill.window);
                said_waiting = true;
            } else {
                upgrade_wanted = said_waiting = false;
                auto a = UpgradeAttempt::start(uc.binary, (*server)->listener_fds(),
                                               (*server)->admin_fd(), uc);
                if (a) {
                    upgrade = std::move(*a);
                } else {
                    (*server)->count_upgrade(false);
                    log::error("upgrade: not started: {}; this process serves on",
                               a.error().message);
                }
            }
        }
        if (upgrade) {
            std::string why;
            const auto st = upgrade->poll(&why);
            if (st == UpgradeAttempt::State::kGrace && !paused) {
                (*server)->pause_accepting(true);
                paused = true;
                log::info("upgrade: pid {} is ready and accepts; this process takes no new "
                          "connections and watches it for {} ms",
                          upgrade->pid(), (*server)->config()->upgrade.grace_ms);
            }
            if (st == UpgradeAttempt::State::kFailed) {
                if (paused) (*server)->pause_accepting(false);
                paused = false;
                (*server)->count_upgrade(false); // first: who reads the line sees the count
                log::error("upgrade: failed: {}; rolled back: this process (pid {}) serves on", why,
                           ::getpid());
                upgrade->abandon();
                gone.push_back(std::move(upgrade));
            } else if (upgrade->grace_passed()) {
                // Never two fills on the same roots: this one stops before the new one starts.
                (*server)->stop_fill();
                sd::notify(fmt::format("MAINPID={}", upgrade->pid()));
                sd::set_muted(true); // not the main process any more
                (*server)->retire(); // the new one speaks for the edge from now on
                upgrade->hand_over();
                log::info("upgrade: handed over to pid {}; draining (up to {} ms)", upgrade->pid(),
                          (*server)->config()->drain_timeout_ms);
                (*server)->begin_drain();
                retired = true;
                break;
            }
        }
        if (sig == SIGHUP) {
            sd::reloading();
            (*server)->reopen_logs();
            (void)(*server)->reload(load());
            sd::ready();
            continue;
        }
    }
    // Wait for the drain, but let a second signal cut it short.
    const int64_t limit_ms = int64_t{(*server)->config()->drain_timeout_ms} + 1000;
    bool drained = false;
    for (int64_t waited = 0; waited < limit_ms; waited += 50) {
        if ((*server)->wait(0)) {
            drained = true;
            break;
        }
        feed();
        for (auto& g : gone)
            (void)g->reap(int64_t{(*server)->config()->drain_timeout_ms} + 5000);
        int sig = wait_signal(50);
        // The first stop signal of a drain that began otherwise (a hand-over, a rollback whose
        // SIGTERM follows the "A") only confirms it.
        if ((sig == SIGTERM || sig == SIGINT) && ++stop_signals >= 2) {
            log::warn("{}: second signal: stopping now", name);
            break;
        }
    }
    (*server)->stop();
    // A new process this one abandoned drains what it took: wait for it (it is SIGKILLed
    // past its own drain time), rather than kill it with this one's exit.
    for (int64_t waited = 0; !gone.empty() && waited < limit_ms + 5000; waited += 50) {
        for (size_t i = 0; i < gone.size();)
            if (gone[i]->reap(limit_ms + 4000))
                gone.erase(gone.begin() + static_cast<std::ptrdiff_t>(i));
            else
                ++i;
        if (!gone.empty()) ::usleep(50000);
    }
    if (!failure.empty()) {
        log::error("{}: stopped{}: {}", name, drained ? "" : " (drain cut short)", failure);
        return 1;
    }
    log::info("{}: stopped{}{}", name, drained ? "" : " (drain cut short)",
              retired ? " (not the service any more)" : "");
    return 0;
}

Runner add_edge(CLI::App& app) {
    auto f = std::make_shared<EdgeFlags>();
    CLI::App* cmd = app.add_subcommand(
        "edge", "Serve video files over HTTP/1.1 with range requests (zero-copy sendfile).");
    cmd->add_option("--config", f->config_path, "TOML config file ([edge] section)");
    cmd->add_option("--root", f->roots,
                    "Content root directory, one per disk (repeatable); PATH:flash or PATH:disk "
                    "tags its storage tier (default disk)");
    cmd->add_option("--listen", f->listen, "Listen address ADDR:PORT (repeatable; port 0 = any)");
    cmd->add_option("--tls-listen", f->tls_listen, "HTTPS listen address ADDR:PORT (repeatable)");
    cmd->add_option("--cert", f->cert, "TLS certificate chain (PEM) for --tls-listen");
    cmd->add_option("--key", f->key, "TLS private key (PEM) for --cert");
    cmd->add_option("--signing-keys", f->signing_keys,
                    "Signed-URL keys: one '<key-id> <secret in hex>' per line (32+ bytes)");
    cmd->add_flag("--require-signed-urls", f->require_signed,
                  "Answer 403 to requests without a valid signed URL (every listener)");
    cmd->add_option("--admin", f->admin,
                    "Admin listener ADDR:PORT for /metrics, /healthz, /storage");
    cmd->add_option("--workers", f->workers, "Worker threads (default: one per core)");
    cmd->add_option("--access-log", f->access_log, "Access log: a file, '-' for stderr, or 'off'");
    cmd->add_option("--congestion-control", f->congestion_control,
                    "TCP congestion control per socket: auto (bbr if available), or a name");
    cmd->add_option("--max-connections", f->max_connections,
                    "Connection limit (default: what the open-file limit allows)");
    cmd->add_option("--server-name", f->server_names, "Accept only these Host names (repeatable)");
    cmd->add_option("--cache-control", f->cache_control,
                    "Cache-Control header for media files, e.g. 'max-age=31536000, immutable' "
                    "(default: none)");
    cmd->add_option("--manifest-cache-control", f->manifest_cache_control,
                    "Cache-Control header for manifests (.mpd, .m3u8, .m3u); '' for none "
                    "(default: max-age=2)");
    cmd->add_option("--log-level", f->log_level, "debug, info, warn, error");
    cmd->add_option("--control", f->control_url,
                    "Control plane URL https://HOST:PORT (its edge listener): heartbeats, keys, "
                    "manifests");
    cmd->add_option("--control-ca", f->control_ca,
                    "PEM CA that signs the control plane's certificate (with https://)");
    cmd->add_flag("--control-insecure", f->control_insecure,
                  "Allow an http:// control URL: token and keys in clear (labs only)");
    cmd->add_option("--id", f->control_id, "This edge's id in the fleet (with --control)");
    cmd->add_option("--token-file", f->control_token_file,
                    "File holding this edge's token in the fleet (or env VCDN_EDGE_TOKEN); read "
                    "again on SIGHUP");
    cmd->add_option("--fill-window", f->fill_window,
                    "Fill from the manifest: 'always', or a local daily window like '02:00+12h' "
                    "(needs --control)");
    cmd->add_option("--fill-rate", f->fill_rate, "Fill rate cap in Mbit/s (0 = none)");
    cmd->add_option("--fill-parallel", f->fill_parallel, "Fill transfers at once (default 4)");
    cmd->add_option("--scrub-rate", f->scrub_rate,
                    "Re-verification of stored files in Mbit/s (default 80; 0 = off)");
    cmd->add_option("--bird-socket", f->bird_socket,
                    "BIRD's control socket: the client prefixes this edge hears over BGP go to "
                    "the control plane (needs --control; see 'vcdn bgp-config')");
    cmd->add_flag("--check-config", f->check_config,
                  "Check the config (and the files it names: keys, certificates, token) as a "
                  "start would, say what would run, and exit: 0 good, 2 with one line per "
                  "problem");
    cmd->footer("Signals: SIGTERM/SIGINT drain (finish responses, then exit 0); SIGHUP reads the "
                "config again and applies its live settings (the log names those that need a "
                "restart; a bad file keeps the running config), reopens the access log and reloads "
                "signing keys, TLS certificates and the control token; SIGUSR2 upgrades in place "
                "([edge.upgrade]: the new binary gets the listening sockets, a failed one is "
                "rolled back)."
                "\nSecrets come from files or the environment, never from the command line."
                "\nConfig reference: README.md, section 'Edge configuration'.");

    // Read at start and again on SIGHUP: the file, then the flags over it.
    auto load = [f, cmd]() -> Result<edge::EdgeConfig> {
        edge::EdgeConfig cfg;
        if (Status s = load_server_config(f->config_path, f->roots, &cfg); !s) return s.error();
        if (!f->listen.empty()) cfg.listen = f->listen;
        if (!f->tls_listen.empty()) cfg.tls_listen = f->tls_listen;
        if (!f->cert.empty() || !f->key.empty()) {
            cfg.tls.certs.insert(cfg.tls.certs.begin(), edge::TlsCertConfig{f->cert, f->key});
        }
        if (!f->signing_keys.empty()) cfg.signing_keys = f->signing_keys;
        if (f->require_signed) cfg.require_signed_urls = true;
        if (!f->admin.empty()) cfg.admin = f->admin;
        if (cmd->count("--workers")) cfg.workers = f->workers;
        if (!f->access_log.empty()) cfg.access_log = f->access_log;
        if (!f->congestion_control.empty()) cfg.congestion_control = f->congestion_control;
        if (cmd->count("--max-connections")) cfg.limits.max_connections = f->max_connections;
        if (!f->server_names.empty()) cfg.server_names = f->server_names;
        if (!f->cache_control.empty()) cfg.cache_control = f->cache_control;
        if (f->manifest_cache_control) cfg.manifest_cache_control = *f->manifest_cache_control;
        if (!f->log_level.empty()) cfg.log_level = f->log_level;
        if (!f->control_url.empty()) cfg.control.url = f->control_url;
        if (!f->control_id.empty()) cfg.control.id = f->control_id;
        if (!f->control_ca.empty()) cfg.control.ca = f->control_ca;
        if (f->control_insecure) cfg.control.allow_insecure = true;
        if (!f->control_token_file.empty()) cfg.control.token_file = f->control_token_file;
        if (Status s = edge::resolve_token(&cfg.control); !s) return s.error();
        if (!f->fill_window.empty()) cfg.fill.window = f->fill_window;
        if (cmd->count("--fill-rate")) cfg.fill.rate_mbps = f->fill_rate;
        if (cmd->count("--fill-parallel")) cfg.fill.parallel = f->fill_parallel;
        if (cmd->count("--scrub-rate")) cfg.fill.scrub_rate_mbps = f->scrub_rate;
        if (!f->bird_socket.empty()) cfg.bgp.bird_socket = f->bird_socket;
        if (cfg.listen.empty() && cfg.tls_listen.empty() && cfg.listeners.empty())
            cfg.listen = {"0.0.0.0:8080"};
        return cfg;
    };
    return [f, load]() -> int { return run_edge_server(load, "edge", f->check_config); };
}

} // namespace vcdn::app
