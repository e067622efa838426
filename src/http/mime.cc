#include <vcdn/http/mime.h>

#include <vcdn/base/strings.h>

namespace vcdn::http {

std::string_view content_type_for(std::string_view path) {
    size_t slash = path.rfind('/');
    size_t dot = path.rfind('.');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
        return "application/octet-stream";
    std::string_view ext = path.substr(dot + 1);
    struct Entry {
        std::string_view ext, type;
    };
    static constexpr Entry kTable[] = {
        {"mp4", "video/mp4"},
        {"m4v", "video/mp4"},
        {"m4s", "video/iso.segment"},
        {"m4a", "audio/mp4"},
        // CMAF (ISO/IEC 23000-19 annex): tracks and segments by media type.
        {"cmfv", "video/mp4"},
        {"cmfa", "audio/mp4"},
        {"cmft", "application/mp4"},
        {"cmfm", "application/mp4"},
        {"aac", "audio/aac"},
        {"ac3", "audio/ac3"},
        {"ec3", "audio/eac3"},
        {"mp3", "audio/mpeg"},
        {"ts", "video/mp2t"},
        {"webm", "video/webm"},
        {"mkv", "video/x-matroska"},
        {"m3u8", "application/vnd.apple.mpegurl"},
        {"m3u", "audio/mpegurl"},
        {"mpd", "application/dash+xml"},
        {"vtt", "text/vtt"},
        {"ttml", "application/ttml+xml"},
        {"srt", "application/x-subrip"},
        {"json", "application/json"},
        {"jpg", "image/jpeg"},
        {"png", "image/png"},
        {"webp", "image/webp"},
        {"txt", "text/plain; charset=utf-8"},
    };
    for (const Entry& e : kTable)
        if (iequals(ext, e.ext)) return e.type;
    return "application/octet-stream";
}

bool is_manifest(std::string_view path) {
    const size_t slash = path.rfind('/');
    const size_t dot = path.rfind('.');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
        return false;
    const std::string_view ext = path.substr(dot + 1);
    return iequals(ext, "mpd") || iequals(ext, "m3u8") || iequals(ext, "m3u");
}

} // namespace vcdn::http
