#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>

#include <vcdn/base/time.h>
#include <vcdn/sim/sim.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct SimFlags {
    std::string scenario, preset, report, html;
    uint64_t seed = 0;
    uint32_t days = 0;
    bool seed_set = false;
    bool quiet = false;
};

bool write_text(const std::string& path, const std::string& text) {
    std::ofstream o(path, std::ios::trunc);
    o << text;
    o.close();
    return static_cast<bool>(o);
}
} // namespace

Runner add_sim(CLI::App& app) {
    auto f = std::make_shared<SimFlags>();
    CLI::App* cmd = app.add_subcommand(
        "sim",
        "Fleet simulator: a fleet design played forward day by day with the control plane's own "
        "placement, steering and health code, at a scale this machine cannot run as processes. "
        "Prints a table per day (offload by tier, content and health misses, the ideal and an LRU "
        "cache for comparison, edge peaks, fill and churn).");
    auto* sc = cmd->add_option("--scenario", f->scenario, "A scenario TOML file (docs/sim.md)");
    auto* pr = cmd->add_option("--preset", f->preset,
                               "small (seconds) or internet (10,000 edges, 1M files, 100M "
                               "sessions over 7 days)");
    sc->excludes(pr);
    cmd->add_option("--seed", f->seed, "Override the scenario's seed");
    cmd->add_option("--days", f->days, "Override the scenario's number of days (1-60)")
        ->check(CLI::Range(1, 60));
    cmd->add_option("--report", f->report, "Write the report as JSON here");
    cmd->add_option("--html", f->html, "Write an HTML report with charts here");
    cmd->add_flag("--quiet", f->quiet, "No progress lines");
    cmd->footer("Example: vcdn sim --preset small --report sim.json --html sim.html");
    return [f, cmd]() -> int {
        if (f->scenario.empty() == f->preset.empty()) {
            std::fprintf(stderr, "vcdn sim: give --scenario FILE or --preset small|internet\n");
            return 2;
        }
        auto s = f->scenario.empty() ? sim::preset(f->preset) : sim::load_scenario(f->scenario);
        if (!s) {
            std::fprintf(stderr, "vcdn sim: %s\n", s.error().message.c_str());
            return 2;
        }
        if (cmd->count("--seed")) s->seed = f->seed;
        if (cmd->count("--days")) {
            // Events after the last day are dropped; what else no longer fits is an error.
            s->days = f->days;
            s->events.erase(
                std::remove_if(s->events.begin(), s->events.end(),
                               [&](const sim::EventSpec& e) { return e.day >= s->days; }),
                s->events.end());
            if (Status v = sim::validate(*s); !v) {
                std::fprintf(stderr, "vcdn sim: --days %u: %s\n", f->days,
                             v.error().message.c_str());
                return 2;
            }
        }
        const int64_t t0 = monotonic_ms();
        const bool tty = isatty(STDERR_FILENO);
        auto rep = sim::run(*s, [&](const sim::Progress& p) {
            if (f->quiet) return;
            if (tty)
                std::fprintf(stderr, "\rday %u/%u %s %3.0f%%  \033[K", p.day + 1, p.days,
                             p.phase.c_str(), p.fraction * 100);
            else if (p.phase != "sessions" || p.fraction >= 1)
                std::fprintf(stderr, "sim: day %u/%u %s %.0f%% (%.0f s)\n", p.day + 1, p.days,
                             p.phase.c_str(), p.fraction * 100, (monotonic_ms() - t0) / 1000.0);
        });
        if (tty && !f->quiet) std::fprintf(stderr, "\n");
        if (!rep) { // the scenario's limits (regions, sites): a bad scenario
            std::fprintf(stderr, "vcdn sim: %s\n", rep.error().message.c_str());
            return 2;
        }
        (*rep)["run_seconds"] = (monotonic_ms() - t0) / 1000.0;
        std::fputs(sim::summary_table(*rep).c_str(), stdout);
        std::printf("ran in %.1f s\n", (monotonic_ms() - t0) / 1000.0);
        if (!f->report.empty() && !write_text(f->report, rep->dump(1) + "\n")) {
            std::fprintf(stderr, "vcdn sim: cannot write %s\n", f->report.c_str());
            return 1;
        }
        if (!f->html.empty() && !write_text(f->html, sim::html_report(*rep))) {
            std::fprintf(stderr, "vcdn sim: cannot write %s\n", f->html.c_str());
            return 1;
        }
        return 0;
    };
}

} // namespace vcdn::app
