// vcdn: one binary, one subcommand per role. Flags and config files are turned into the
// library's config structs here; everything else lives in the library.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>

#include <vcdn/base/version.h>

#include "commands.h"
#include "upgrade.h"

namespace vcdn::app {

void print_errors(const char* name, const std::string& message) {
    size_t at = 0;
    while (at <= message.size()) {
        size_t end = message.find('\n', at);
        if (end == std::string::npos) end = message.size();
        std::fprintf(stderr, "vcdn %s: %.*s\n", name, static_cast<int>(end - at),
                     message.data() + at);
        at = end + 1;
    }
}

void block_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2); // an upgrade (vcdn edge, origin); ignored by the others
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
}

int wait_signal(int timeout_ms) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR2);
    timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    int s = sigtimedwait(&set, nullptr, &ts);
    return s < 0 ? 0 : s;
}

int run_until_signal(const std::function<int(const std::atomic<bool>&)>& body) {
    block_signals();
    std::atomic<bool> stop{false}, done{false};
    std::thread watcher([&] {
        while (!done.load()) {
            const int s = wait_signal(200);
            if (s == SIGINT || s == SIGTERM) stop.store(true);
        }
    });
    const int rc = body(stop);
    done.store(true);
    watcher.join();
    return rc;
}

} // namespace vcdn::app

int main(int argc, char** argv) {
    vcdn::app::save_process_args(argc, argv);
    CLI::App app{"vcdn — an open-source video CDN: edge servers, control plane, players.\n"
                 "Run 'vcdn <command> --help' for the flags of a command."};
    app.set_version_flag("--version", std::string("vcdn ") + vcdn::kVersion + " (build " +
                                          vcdn::build_id() + ")");
    app.require_subcommand(1);
    app.fallthrough(false);
    std::vector<vcdn::app::Runner> runners;
    auto edge = vcdn::app::add_edge(app);
    auto catalog = vcdn::app::add_catalog(app);
    auto demo = vcdn::app::add_demo(app);
    auto sign = vcdn::app::add_sign(app);
    auto control = vcdn::app::add_control(app);
    auto origin = vcdn::app::add_origin(app);
    auto play = vcdn::app::add_play(app);
    auto bgp_config = vcdn::app::add_bgp_config(app);
    auto sim = vcdn::app::add_sim(app);
    auto cert = vcdn::app::add_cert(app);
    if (argc > 1 && argv[1][0] != '-') {
        std::string_view first = argv[1];
        bool known = false;
        std::string names;
        for (const CLI::App* sub : app.get_subcommands({})) {
            known = known || sub->get_name() == first;
            names += (names.empty() ? "" : ", ") + sub->get_name();
        }
        if (!known) {
            std::fprintf(stderr, "vcdn: unknown command '%s' (commands: %s; see --help)\n", argv[1],
                         names.c_str());
            return 2;
        }
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // One line: "vcdn <command>: <what is wrong> (see --help)", the prefix every error of
        // that command has; exit 2 like any bad flag or config.
        std::string prefix = "vcdn";
        if (argc > 1 && argv[1][0] != '-') {
            prefix += std::string(" ") + argv[1];
            const CLI::App* sub = app.get_subcommand(argv[1]);
            if (argc > 2 && argv[2][0] != '-')
                for (const CLI::App* verb : sub->get_subcommands({}))
                    if (verb->get_name() == argv[2]) prefix += std::string(" ") + argv[2];
        }
        std::fprintf(stderr, "%s: %s (see --help)\n", prefix.c_str(), e.what());
        return 2;
    }
    if (app.got_subcommand("edge")) return edge();
    if (app.got_subcommand("catalog")) return catalog();
    if (app.got_subcommand("demo")) return demo();
    if (app.got_subcommand("sign")) return sign();
    if (app.got_subcommand("control")) return control();
    if (app.got_subcommand("origin")) return origin();
    if (app.got_subcommand("play")) return play();
    if (app.got_subcommand("bgp-config")) return bgp_config();
    if (app.got_subcommand("sim")) return sim();
    if (app.got_subcommand("cert")) return cert();
    return 2;
}
