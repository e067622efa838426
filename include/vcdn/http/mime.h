#pragma once
#include <string_view>

namespace vcdn::http {

// Content-Type for a file name, by extension (video-centric table; unknown → octet-stream).
std::string_view content_type_for(std::string_view path);

// Whether a file name is a streaming manifest (.mpd, .m3u8, .m3u): the files a live packager
// rewrites in place and players reload, so they get a short cache lifetime where media
// segments, which never change, get a long one.
bool is_manifest(std::string_view path);

} // namespace vcdn::http
