#include <cstdio>
#include <fmt/format.h>
#include <memory>

#include <vcdn/base/strings.h>
#include <vcdn/catalog/catalog.h>

#include "commands.h"

namespace vcdn::app {

namespace {
struct CatalogFlags {
    catalog::MakeOptions make;
    std::string bitrates = "235,750,1750,3000,5800";
    std::string verify_root;
    std::string verify_catalog;
    bool quiet = false;
};
} // namespace

Runner add_catalog(CLI::App& app) {
    auto f = std::make_shared<CatalogFlags>();
    CLI::App* cmd = app.add_subcommand("catalog", "Make or check catalogs of video files.");
    cmd->require_subcommand(1);
    CLI::App* make = cmd->add_subcommand(
        "make", "Make a synthetic catalog: per title one file per bitrate (size = bitrate × "
                "duration) of pseudo-random bytes, plus catalog.json. Deterministic for a seed.");
    make->add_option("--out", f->make.out_dir, "Output directory")->required();
    make->add_option("--titles", f->make.titles, "Number of titles")->capture_default_str();
    make->add_option("--bitrates", f->bitrates, "Bitrate ladder in kbit/s, comma-separated")
        ->capture_default_str();
    make->add_option("--seconds", f->make.seconds, "Duration of each title in seconds")
        ->capture_default_str();
    make->add_option("--seed", f->make.seed, "Seed of the content and of nothing else")
        ->capture_default_str();
    make->add_option("--first-title", f->make.first_title, "Number of the first title")
        ->capture_default_str();
    make->add_flag("--quiet", f->quiet, "No progress output");

    CLI::App* verify = cmd->add_subcommand(
        "verify",
        "Check that every file of a catalog is under a root with the right size and SHA-256.");
    verify->add_option("--root", f->verify_root, "Content root")->required();
    verify->add_option("--catalog", f->verify_catalog, "catalog.json (default: ROOT/catalog.json)");

    return [f, make, verify]() -> int {
        if (make->parsed()) {
            f->make.bitrates_kbps.clear();
            for (std::string_view b : split(f->bitrates, ',')) {
                uint64_t v = 0;
                if (!parse_u64(trim_ows(b), &v) || v > UINT32_MAX) {
                    std::fprintf(stderr, "vcdn catalog make: --bitrates: '%.*s' is not a number\n",
                                 static_cast<int>(b.size()), b.data());
                    return 2;
                }
                f->make.bitrates_kbps.push_back(static_cast<uint32_t>(v));
            }
            auto cat = catalog::make_catalog(f->make, [&](size_t done, size_t total) {
                if (!f->quiet && isatty(2)) std::fprintf(stderr, "\r%zu/%zu files", done, total);
            });
            if (!f->quiet && isatty(2)) std::fprintf(stderr, "\n");
            if (!cat) {
                std::fprintf(stderr, "vcdn catalog make: %s\n", cat.error().message.c_str());
                return 2;
            }
            uint64_t bytes = 0;
            for (const auto& file : cat->files)
                bytes += file.size;
            fmt::print("{} files, {} bytes ({}) in {}; catalog: {}/catalog.json\n",
                       cat->files.size(), bytes, human_bytes(static_cast<double>(bytes)),
                       f->make.out_dir, f->make.out_dir);
            return 0;
        }
        if (verify->parsed()) {
            std::string path =
                f->verify_catalog.empty() ? f->verify_root + "/catalog.json" : f->verify_catalog;
            auto cat = catalog::load(path);
            if (!cat) {
                std::fprintf(stderr, "vcdn catalog verify: %s\n", cat.error().message.c_str());
                return 2;
            }
            auto rep = catalog::verify(*cat, f->verify_root);
            for (const auto& p : rep.problems)
                fmt::print("{}\n", p);
            fmt::print("{} of {} files OK\n", rep.ok, cat->files.size());
            return rep.problems.empty() ? 0 : 1;
        }
        return 2;
    };
}

} // namespace vcdn::app
