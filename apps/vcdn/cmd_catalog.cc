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
    std::string import_root, import_out;
    bool quiet = false;
    bool media = false;
    uint32_t audio_kbps = 96;
    uint32_t distinct = 0;
};
} // namespace

Runner add_catalog(CLI::App& app) {
    auto f = std::make_shared<CatalogFlags>();
    CLI::App* cmd = app.add_subcommand("catalog", "Make, import or check catalogs of video files.");
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
    make->add_flag("--media", f->media,
                   "Real H.264/AAC titles made with ffmpeg instead: per title one MP4 per video "
                   "bitrate and one audio MP4, byte-range DASH (manifest.mpd) and HLS "
                   "(master.m3u8), 2 s segments (--seed is not used)");
    make->add_option("--audio-bitrate", f->audio_kbps, "With --media: AAC bitrate in kbit/s")
        ->capture_default_str();
    make->add_option("--distinct", f->distinct,
                     "With --media: encode only this many titles and make the others copies of "
                     "them, each under its own path (0 = encode all)")
        ->capture_default_str();

    CLI::App* verify = cmd->add_subcommand(
        "verify",
        "Check that every file of a catalog is under a root with the right size and SHA-256.");
    verify->add_option("--root", f->verify_root, "Content root")->required();
    verify->add_option("--catalog", f->verify_catalog, "catalog.json (default: ROOT/catalog.json)");

    CLI::App* import = cmd->add_subcommand(
        "import",
        "Make the catalog of a directory of packaged titles (ffmpeg, Shaka Packager, Bento4 ...): "
        "one title per directory, every file with its size and SHA-256, each rendition's "
        "bitrate from the DASH or HLS manifest where it says so. Dot files and symlinks are "
        "left out.");
    import->add_option("--root", f->import_root, "Content root: one directory per title")
        ->required();
    import->add_option("--out", f->import_out, "Where to write it (default: ROOT/catalog.json)");

    return [f, make, verify, import]() -> int {
        if (import->parsed()) {
            auto rep = catalog::import_dir(f->import_root);
            if (!rep) { // a read error is a run-time failure; the directory's content is input
                std::fprintf(stderr, "vcdn catalog import: %s\n", rep.error().message.c_str());
                return rep.error().sys_errno ? 1 : 2;
            }
            const std::string out =
                f->import_out.empty() ? f->import_root + "/catalog.json" : f->import_out;
            if (Status s = catalog::save(rep->catalog, out); !s) {
                std::fprintf(stderr, "vcdn catalog import: %s\n", s.error().message.c_str());
                return 1;
            }
            fmt::print("{} files in {} titles ({} with a bitrate from a manifest; {} left out), "
                       "{} bytes ({}); catalog: {}\n",
                       rep->catalog.files.size(), rep->titles, rep->with_bitrate, rep->skipped,
                       rep->bytes, human_bytes(static_cast<double>(rep->bytes)), out);
            return 0;
        }
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
            if (f->media) {
                catalog::MediaOptions mo;
                mo.out_dir = f->make.out_dir;
                mo.titles = f->make.titles;
                mo.bitrates_kbps = f->make.bitrates_kbps;
                mo.seconds = f->make.seconds;
                mo.first_title = f->make.first_title;
                mo.audio_kbps = f->audio_kbps;
                mo.distinct = f->distinct;
                if (Status bad = catalog::validate(mo); !bad) {
                    std::fprintf(stderr, "vcdn catalog make: %s\n", bad.error().message.c_str());
                    return 2;
                }
                auto rep = catalog::make_media_catalog(mo, [&](size_t done, size_t total) {
                    if (!f->quiet && isatty(2))
                        std::fprintf(stderr, "\r%zu/%zu titles", done, total);
                });
                if (!f->quiet && isatty(2)) std::fprintf(stderr, "\n");
                if (!rep) { // writing, or ffmpeg: run time
                    std::fprintf(stderr, "vcdn catalog make: %s\n", rep.error().message.c_str());
                    return 1;
                }
                fmt::print("{} files in {} titles (DASH and HLS), {} bytes ({}) in {}; catalog: "
                           "{}/catalog.json\n",
                           rep->catalog.files.size(), rep->titles, rep->bytes,
                           human_bytes(static_cast<double>(rep->bytes)), mo.out_dir, mo.out_dir);
                return 0;
            }
            if (Status bad = catalog::validate(f->make); !bad) {
                std::fprintf(stderr, "vcdn catalog make: %s\n", bad.error().message.c_str());
                return 2;
            }
            auto cat = catalog::make_catalog(f->make, [&](size_t done, size_t total) {
                if (!f->quiet && isatty(2)) std::fprintf(stderr, "\r%zu/%zu files", done, total);
            });
            if (!f->quiet && isatty(2)) std::fprintf(stderr, "\n");
            if (!cat) { // writing: run time
                std::fprintf(stderr, "vcdn catalog make: %s\n", cat.error().message.c_str());
                return 1;
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
            if (rep.problems.empty()) return 0;
            std::fprintf(stderr, "vcdn catalog verify: %zu problems in %zu files (listed above)\n",
                         rep.problems.size(), cat->files.size());
            return 1;
        }
        return 2;
    };
}

} // namespace vcdn::app
