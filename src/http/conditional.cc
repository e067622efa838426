#include <vcdn/http/conditional.h>

#include <fmt/format.h>

#include <vcdn/base/strings.h>
#include <vcdn/http/date.h>

namespace vcdn::http {
namespace {

// Strips "W/" and returns whether it was there.
std::string_view opaque_tag(std::string_view tag, bool* weak) {
    *weak = tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/';
    if (*weak) tag.remove_prefix(2);
    return tag;
}

} // namespace

bool etag_list_matches(std::string_view list, std::string_view etag, bool weak_compare) {
    list = trim_ows(list);
    if (list == "*") return true;
    bool etag_weak = false;
    std::string_view ours = opaque_tag(etag, &etag_weak);
    while (!list.empty()) {
        // Entity-tags are quoted and may not contain '"', so split on commas outside quotes.
        size_t i = 0;
        bool in_quotes = false;
        while (i < list.size() && (in_quotes || list[i] != ',')) {
            if (list[i] == '"') in_quotes = !in_quotes;
            ++i;
        }
        std::string_view item = trim_ows(list.substr(0, i));
        bool item_weak = false;
        std::string_view theirs = opaque_tag(item, &item_weak);
        if (theirs.size() >= 2 && theirs.front() == '"' && theirs.back() == '"' && theirs == ours &&
            (weak_compare || (!item_weak && !etag_weak)))
            return true;
        if (i >= list.size()) break;
        list.remove_prefix(i + 1);
    }
    return false;
}

Precondition evaluate_preconditions(const Request& req, const Validators& v) {
    // 1. If-Match
    if (!req.if_match.empty()) {
        if (!etag_list_matches(req.if_match, v.etag, false))
            return Precondition::kPreconditionFailed;
    } else if (!req.if_unmodified_since.empty()) {
        // 2. If-Unmodified-Since (ignored when the date is invalid)
        auto t = parse_http_date(trim_ows(req.if_unmodified_since));
        if (t && v.last_modified > *t) return Precondition::kPreconditionFailed;
    }
    // 3. If-None-Match
    if (!req.if_none_match.empty()) {
        if (etag_list_matches(req.if_none_match, v.etag, true)) return Precondition::kNotModified;
    } else if (!req.if_modified_since.empty()) {
        // 4. If-Modified-Since (ignored when the date is invalid)
        auto t = parse_http_date(trim_ows(req.if_modified_since));
        if (t && v.last_modified <= *t) return Precondition::kNotModified;
    }
    return Precondition::kProceed;
}

bool if_range_allows(std::string_view if_range, const Validators& v) {
    if_range = trim_ows(if_range);
    if (if_range.empty()) return true;
    if (if_range.front() == '"' || (if_range.size() > 2 && if_range.substr(0, 2) == "W/")) {
        // Strong comparison of a single entity-tag; a weak tag never matches.
        return if_range.front() == '"' && if_range == v.etag;
    }
    auto t = parse_http_date(if_range);
    return t && *t == v.last_modified;
}

std::string make_etag(int64_t mtime, uint64_t size) {
    return fmt::format("\"{:x}-{:x}\"", static_cast<uint64_t>(mtime), size);
}

} // namespace vcdn::http
