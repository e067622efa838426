#pragma once
#include <string_view>

namespace vcdn::http {

// Content-Type for a file name, by extension (video-centric table; unknown → octet-stream).
std::string_view content_type_for(std::string_view path);

} // namespace vcdn::http
