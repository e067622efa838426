// vcdn catalog make --media: real H.264/AAC titles made with ffmpeg (see catalog.h).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include <vcdn/base/process.h>
#include <vcdn/catalog/catalog.h>

namespace vcdn::catalog {

namespace fs = std::filesystem;

namespace {

// The picture size a rendition of `kbps` gets: the usual ladder's steps.
std::pair<int, int> size_for(uint32_t kbps) {
    if (kbps < 400) return {426, 240};
    if (kbps < 1000) return {640, 360};
    if (kbps < 2000) return {854, 480};
    if (kbps < 4500) return {1280, 720};
    return {1920, 1080};
}

std::string last_line(const std::string& path) {
    std::error_code ec;
    if (fs::file_size(path, ec) > (1u << 20) || ec) return "";
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return "";
    std::string text(1u << 20, '\0');
    text.resize(std::fread(text.data(), 1, text.size(), f));
    std::fclose(f);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
        text.pop_back();
    return text.substr(text.rfind('\n') + 1);
}

} // namespace

Status validate(const MediaOptions& opt) {
    if (opt.out_dir.empty()) return Error{"--out is required"};
    if (opt.titles == 0 || opt.titles > 1000) return Error{"titles must be 1 to 1000"};
    if (opt.seconds < 2 || opt.seconds > 3600) return Error{"seconds must be 2 to 3600"};
    if (opt.bitrates_kbps.empty() || opt.bitrates_kbps.size() > 8)
        return Error{"give 1 to 8 video bitrates"};
    for (uint32_t k : opt.bitrates_kbps)
        if (k < 100 || k > 20000) return Error{fmt::format("bitrate {}k: use 100 to 20000", k)};
    if (opt.audio_kbps < 32 || opt.audio_kbps > 320) return Error{"audio bitrate: 32 to 320"};
    return {};
}

Result<ImportReport> make_media_catalog(const MediaOptions& opt,
                                        const std::function<void(size_t, size_t)>& progress) {
    if (Status s = validate(opt); !s) return s.error();
    std::error_code ec;
    fs::create_directories(opt.out_dir, ec);
    if (ec) return Error{fmt::format("{}: {}", opt.out_dir, ec.message())};
    std::vector<uint32_t> ladder = opt.bitrates_kbps;
    std::sort(ladder.rbegin(), ladder.rend());
    const uint32_t distinct = opt.distinct == 0 ? opt.titles : std::min(opt.distinct, opt.titles);
    for (uint32_t i = 0; i < opt.titles; ++i) {
        const uint32_t t = opt.first_title + i;
        const fs::path dir = fs::path(opt.out_dir) / "t" / std::to_string(t);
        fs::remove_all(dir, ec);
        if (i >= distinct) { // a copy of an encoded title, under its own path
            const fs::path from =
                fs::path(opt.out_dir) / "t" / std::to_string(opt.first_title + i % distinct);
            fs::copy(from, dir, fs::copy_options::recursive, ec);
            if (ec) return Error{fmt::format("{}: {}", dir.string(), ec.message())};
            if (progress) progress(i + 1, opt.titles);
            continue;
        }
        fs::create_directories(dir, ec);
        if (ec) return Error{fmt::format("{}: {}", dir.string(), ec.message())};
        const auto [w, h] = size_for(ladder.front());
        const std::string secs = std::to_string(opt.seconds);
        // A moving test picture and a tone whose pitch tells the titles apart by ear.
        std::vector<std::string> a = {
            opt.ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            fmt::format("testsrc2=size={}x{}:rate=25:duration={}", w, h, secs),
            "-f",
            "lavfi",
            "-i",
            fmt::format("sine=frequency={}:sample_rate=48000:duration={}", 220 + 20 * t, secs)};
        for (size_t r = 0; r < ladder.size(); ++r)
            a.insert(a.end(), {"-map", "0:v"});
        a.insert(a.end(), {"-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt",
                           "yuv420p", "-profile:v", "main", "-g", "50", "-keyint_min", "50",
                           "-sc_threshold", "0", "-threads", "2"});
        for (size_t r = 0; r < ladder.size(); ++r) {
            const auto [rw, rh] = size_for(ladder[r]);
            const std::string k = std::to_string(ladder[r]) + "k";
            a.insert(a.end(), {fmt::format("-b:v:{}", r), k, fmt::format("-maxrate:v:{}", r), k,
                               fmt::format("-bufsize:v:{}", r), std::to_string(2 * ladder[r]) + "k",
                               fmt::format("-s:v:{}", r), fmt::format("{}x{}", rw, rh)});
        }
        // DASH and HLS over the same files: one fragmented MP4 per rendition, addressed by
        // byte ranges (SegmentList mediaRange / EXT-X-BYTERANGE), 2-second segments.
        a.insert(a.end(), {"-c:a",
                           "aac",
                           "-b:a",
                           std::to_string(opt.audio_kbps) + "k",
                           "-ac",
                           "2",
                           "-f",
                           "dash",
                           "-single_file",
                           "1",
                           "-seg_duration",
                           "2",
                           "-use_template",
                           "0",
                           "-use_timeline",
                           "0",
                           "-hls_playlist",
                           "1",
                           "-adaptation_sets",
                           "id=0,streams=v id=1,streams=a",
                           "-single_file_name",
                           "r$RepresentationID$.mp4",
                           (dir / "manifest.mpd").string()});
        const std::string log = (dir / ".ffmpeg.log").string();
        const pid_t pid = spawn_logged(a, log, false);
        const int rc = pid < 0 ? -1 : wait_exit(pid);
        if (rc == -1)
            return Error{
                fmt::format("cannot run {}: install ffmpeg (apt-get install ffmpeg)", opt.ffmpeg)};
        if (rc != 0)
            return Error{
                fmt::format("{} exited {} for title {}: {}", opt.ffmpeg, rc, t, last_line(log))};
        fs::remove(log, ec);
        if (progress) progress(i + 1, opt.titles);
    }
    auto rep = import_dir(opt.out_dir);
    if (!rep) return rep.error();
    // Title numbers as the layout says (/t/<n>/), not in path order.
    for (CatalogFile& f : rep->catalog.files) {
        unsigned n = 0;
        if (std::sscanf(f.path.c_str(), "/t/%u/", &n) == 1) f.title = n;
    }
    if (Status s = save(rep->catalog, (fs::path(opt.out_dir) / "catalog.json").string()); !s)
        return s.error();
    return rep;
}

} // namespace vcdn::catalog
