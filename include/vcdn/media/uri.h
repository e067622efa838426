#pragma once
// URIs inside packaged manifests (DASH MPDs, HLS playlists) as catalog paths, and catalog paths
// back into URLs. Shared by `vcdn catalog import` (which files a manifest names) and the control
// plane's playback manifests (which files each rendition needs, and where to fetch them).
//
// Threads: pure functions; any thread.
#include <string>
#include <string_view>

namespace vcdn::media {

// "/t/1/manifest.mpd" -> "/t/1/" (everything up to and including the last '/').
std::string_view dir_of(std::string_view path);

// A URI from a manifest, relative to `base_dir` (a catalog directory ending in '/') or
// root-relative, as a catalog path: percent-decoded ('+' stays '+': this is a path, not a
// query), "." and ".." applied, query and fragment dropped. Empty when it is not a file of this
// catalog: an absolute URL ("https://..", "//host/.."), a template ("$Number$"), a variable
// ("{$v}"), a bad escape, or a path that climbs above the root. A URI ending in '/' keeps it
// (a directory, as DASH BaseURLs name them).
std::string resolve_uri(std::string_view base_dir, std::string_view uri);

// A catalog path as the path of a URL: every byte outside [A-Za-z0-9-._~/!()*+,;=@]
// percent-encoded ('%', '&', quotes, '<', and '$' and ':', which a manifest reader takes for a
// template or a scheme, included), so that any catalog path goes into a URL, an HLS quoted
// string and an XML text node as it is, and resolve_uri gives it back.
std::string encode_path(std::string_view path);

} // namespace vcdn::media
