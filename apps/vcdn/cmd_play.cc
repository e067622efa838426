// `vcdn play`: simulated viewers against a real control plane and its edges.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include <vcdn/base/log.h>
#include <vcdn/control/config.h>
#include <vcdn/player/play.h>

#include "commands.h"

namespace vcdn::app {

Runner add_play(CLI::App& app) {
    auto c = std::make_shared<player::PlayConfig>();
    auto report = std::make_shared<std::string>();
    auto mode = std::make_shared<std::string>("player");
    auto rc = std::make_shared<player::RangesConfig>();
    CLI::App* cmd = app.add_subcommand(
        "play", "Simulated video players: steering, chunked range requests, a playout buffer, "
                "buffer-based bitrate adaptation and failover; reports startup, stalls and "
                "bitrate.");
    cmd->add_option("--control", c->control,
                    "Control plane http://IP:PORT: its public listener (steering, QoE)");
    auto token_file = std::make_shared<std::string>();
    cmd->add_option("--api", c->api,
                    "Where the catalog list comes from: the control plane's admin listener "
                    "(default: --control)");
    cmd->add_option("--api-ca", c->api_ca, "PEM CA of an https --api");
    cmd->add_option("--read-token-file", *token_file,
                    "File holding the control plane's read token, for the catalog list (or env "
                    "VCDN_READ_TOKEN)");
    cmd->add_option("--players", c->players, "Simulated players")->capture_default_str();
    cmd->add_option("--duration", c->duration_s, "Seconds to play")->capture_default_str();
    cmd->add_option("--threads", c->threads, "Event loops")->capture_default_str();
    cmd->add_option("--titles", c->titles,
                    "Only these title numbers (default: all, by popularity)");
    cmd->add_option("--client-net", c->client_net,
                    "Bind each player to its own address in this CIDR (e.g. 127.1.0.0/16)");
    cmd->add_option("--chunk-seconds", c->chunk_s, "Media seconds per request")
        ->capture_default_str();
    cmd->add_option("--max-buffer", c->max_buffer_s, "Playout buffer target in seconds")
        ->capture_default_str();
    cmd->add_option("--request-timeout-ms", c->request_timeout_ms,
                    "A request not complete by then fails over")
        ->capture_default_str();
    cmd->add_option("--seed", c->seed, "Seed of the players' choices")->capture_default_str();
    cmd->add_flag(
        "--no-qoe", [c](int64_t) { c->send_qoe = false; },
        "Do not send QoE samples to the control plane");
    cmd->add_option("--report", *report, "Write the summary and every session as JSON here");
    cmd->add_option("--mode", *mode,
                    "player, or ranges (a benchmark load: random ranges as fast "
                    "as possible)")
        ->capture_default_str();
    cmd->add_option("--target", rc->target, "ranges mode: the edge http://IP:PORT");
    cmd->add_option("--catalog", rc->catalog_file, "ranges mode: catalog.json of the files");
    cmd->add_option("--connections", rc->connections, "ranges mode: connections")
        ->capture_default_str();
    cmd->add_option("--range-bytes", rc->range_bytes, "ranges mode: bytes per request")
        ->capture_default_str();
    cmd->footer("Example: vcdn play --control http://127.0.0.1:8070 --players 200 --duration 30 "
                "--client-net 127.1.0.0/16 --report play.json");
    return [c, report, mode, rc, cmd, token_file]() -> int {
        if (*mode != "player" && *mode != "ranges") {
            std::fprintf(stderr, "vcdn play: mode '%s': use player or ranges\n", mode->c_str());
            return 2;
        }
        if (*mode == "ranges") {
            rc->duration_s = c->duration_s;
            rc->threads = c->threads;
            Result<nlohmann::json> r = Error{"not run"};
            run_until_signal([&](const std::atomic<bool>& stop) {
                r = player::run_ranges(*rc, stop);
                return 0;
            });
            if (!r) {
                std::fprintf(stderr, "vcdn play: %s\n", r.error().message.c_str());
                return r.error().message.rfind("ranges mode:", 0) == 0 ? 2 : 1;
            }
            std::printf("%s\n", r->dump().c_str());
            if (!report->empty()) {
                std::ofstream out(*report);
                out << r->dump(1) << "\n";
                out.close();
                if (!out) {
                    std::fprintf(stderr, "vcdn play: cannot write %s\n", report->c_str());
                    return 1;
                }
            }
            return 0;
        }
        (void)cmd;
        if (!token_file->empty()) {
            auto t = control::read_secret_file(*token_file);
            if (!t) {
                std::fprintf(stderr, "vcdn play: %s\n", t.error().message.c_str());
                return 2;
            }
            c->read_token = *t;
        } else if (const char* env = std::getenv("VCDN_READ_TOKEN")) {
            c->read_token = env;
        }
        if (Status s = player::validate(*c); !s) {
            std::fprintf(stderr, "vcdn play: %s\n", s.error().message.c_str());
            return 2;
        }
        const bool tty = isatty(STDERR_FILENO);
        int64_t tick = 0;
        auto progress = [&](const player::Progress& p) {
            const std::string line = fmt::format(
                "players {} active | {:.3f} Gbit/s | rebuffer {:.2f}% | {} requests, {} errors",
                p.active, p.gbps, p.rebuffer_ratio * 100, p.requests, p.errors);
            if (tty)
                std::fprintf(stderr, "\r%s\033[K", line.c_str());
            else if (++tick % 5 == 0)
                log::info("play: {}", line);
        };
        Result<player::PlayReport> r = Error{"not run"};
        run_until_signal([&](const std::atomic<bool>& stop) {
            r = player::run(*c, stop, progress);
            return 0;
        });
        if (tty) std::fprintf(stderr, "\n");
        if (!r) {
            std::fprintf(stderr, "vcdn play: %s\n", r.error().message.c_str());
            return 1;
        }
        const auto& s = r->summary;
        std::printf("sessions %llu (finished %llu), startup p50 %.0f ms p95 %.0f ms, rebuffer "
                    "ratio %.3f%%, avg bitrate %.0f kbit/s, switches %llu, failovers %llu, %.3f "
                    "Gbit/s, errors %s\n",
                    static_cast<unsigned long long>(s["sessions"].get<uint64_t>()),
                    static_cast<unsigned long long>(s["sessions_finished"].get<uint64_t>()),
                    s["startup_ms"]["p50"].get<double>(), s["startup_ms"]["p95"].get<double>(),
                    s["rebuffer_ratio"].get<double>() * 100, s["avg_bitrate_kbps"].get<double>(),
                    static_cast<unsigned long long>(s["switches"].get<uint64_t>()),
                    static_cast<unsigned long long>(s["failovers"].get<uint64_t>()),
                    s["gbps"].get<double>(), s["errors"].dump().c_str());
        if (!report->empty()) {
            std::ofstream out(*report);
            out << nlohmann::json{{"summary", r->summary}, {"sessions", r->sessions}}.dump(1)
                << "\n";
            out.close();
            if (!out) {
                std::fprintf(stderr, "vcdn play: cannot write %s\n", report->c_str());
                return 1;
            }
        }
        return 0;
    };
}

} // namespace vcdn::app
