#include <vcdn/catalog/catalog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <vcdn/base/random.h>
#include <vcdn/base/sha256.h>
#include <vcdn/base/unique_fd.h>
#include <vcdn/wire/json.h>

namespace vcdn::catalog {

namespace fs = std::filesystem;

namespace {
constexpr size_t kBlock = 1 << 20;

// Content is generated in 8-byte words: word i of a file is a hash of (file seed, i), so any
// offset can be produced without generating what comes before it.
inline uint64_t word_at(uint64_t file_seed, uint64_t index) {
    uint64_t x = file_seed ^ (index * 0x9e3779b97f4a7c15ULL);
    return Rng::splitmix(x);
}

uint64_t file_seed(uint64_t seed, std::string_view path) {
    return seed * 0x100000001b3ULL ^ fnv1a64(path.data(), path.size());
}

Status write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno("write");
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return {};
}
} // namespace

void synthetic_bytes(uint64_t seed, std::string_view path, uint64_t offset, char* buf, size_t n) {
    const uint64_t fs_seed = file_seed(seed, path);
    size_t done = 0;
    while (done < n) {
        uint64_t pos = offset + done;
        uint64_t w = word_at(fs_seed, pos / 8);
        size_t in_word = pos % 8;
        size_t take = std::min(n - done, 8 - in_word);
        std::memcpy(buf + done, reinterpret_cast<const char*>(&w) + in_word, take);
        done += take;
    }
}

Status validate(const MakeOptions& opt) {
    if (opt.out_dir.empty()) return Error{"no output directory"};
    if (opt.titles == 0) return Error{"--titles must be at least 1"};
    if (opt.titles > 1000000) return Error{"--titles must be at most 1000000"};
    if (opt.bitrates_kbps.empty()) return Error{"--bitrates must list at least one bitrate"};
    if (opt.seconds == 0) return Error{"--seconds must be at least 1"};
    std::set<uint32_t> seen;
    for (uint32_t b : opt.bitrates_kbps) {
        if (b == 0 || b > 1000000)
            return Error{fmt::format("bitrate {} kbps is out of range (1..1000000)", b)};
        if (!seen.insert(b).second) return Error{fmt::format("bitrate {} kbps listed twice", b)};
    }
    uint64_t per_title = 0;
    for (uint32_t b : opt.bitrates_kbps)
        per_title += file_size_for(b, opt.seconds);
    if (per_title * opt.titles > kMaxCatalogBytes)
        return Error{fmt::format("the catalog would be {} bytes; the limit is {}",
                                 per_title * opt.titles, kMaxCatalogBytes)};
    return {};
}

Result<Catalog> make_catalog(const MakeOptions& opt,
                             const std::function<void(size_t, size_t)>& progress) {
    if (Status s = validate(opt); !s) return s.error();
    std::error_code ec;
    fs::create_directories(opt.out_dir, ec);
    if (ec) return Error{fmt::format("cannot create {}: {}", opt.out_dir, ec.message())};

    Catalog cat;
    cat.seed = opt.seed;
    std::vector<uint32_t> bitrates = opt.bitrates_kbps;
    std::sort(bitrates.begin(), bitrates.end());
    const size_t total = size_t{opt.titles} * bitrates.size();
    std::vector<char> buf(kBlock);
    for (uint32_t t = opt.first_title; t < opt.first_title + opt.titles; ++t) {
        fs::path dir = fs::path(opt.out_dir) / "t" / std::to_string(t);
        fs::create_directories(dir, ec);
        if (ec) return Error{fmt::format("cannot create {}: {}", dir.string(), ec.message())};
        for (uint32_t kbps : bitrates) {
            CatalogFile f;
            f.title = t;
            f.bitrate_kbps = kbps;
            f.size = file_size_for(kbps, opt.seconds);
            f.path = fmt::format("/t/{}/v-{}k.mp4", t, kbps);
            std::string final_path = (dir / fmt::format("v-{}k.mp4", kbps)).string();
            std::string tmp_path = (dir / fmt::format(".v-{}k.mp4.tmp", kbps)).string();
            UniqueFd fd(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
            if (!fd) return Error::from_errno("create " + tmp_path);
            Sha256 h;
            for (uint64_t off = 0; off < f.size; off += kBlock) {
                size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, f.size - off));
                synthetic_bytes(opt.seed, f.path, off, buf.data(), n);
                h.update(buf.data(), n);
                if (Status s = write_all(fd.get(), buf.data(), n); !s)
                    return Error{fmt::format("{}: {}", tmp_path, s.error().message)};
            }
            fd.reset();
            if (::rename(tmp_path.c_str(), final_path.c_str()) != 0)
                return Error::from_errno("rename " + tmp_path);
            f.sha256 = h.final_hex();
            cat.files.push_back(std::move(f));
            if (progress) progress(cat.files.size(), total);
        }
    }
    if (Status s = save(cat, (fs::path(opt.out_dir) / "catalog.json").string()); !s)
        return s.error();
    return cat;
}

std::string to_json(const Catalog& c) {
    nlohmann::ordered_json j;
    j["version"] = 1;
    j["seed"] = c.seed;
    auto& files = j["files"] = nlohmann::ordered_json::array();
    for (const CatalogFile& f : c.files) {
        nlohmann::ordered_json e;
        e["path"] = f.path;
        e["size"] = f.size;
        e["sha256"] = f.sha256;
        e["title"] = f.title;
        e["bitrate_kbps"] = f.bitrate_kbps;
        files.push_back(std::move(e));
    }
    return j.dump(2) + "\n";
}

Result<Catalog> from_json(std::string_view text) {
    try {
        // A catalog is flat (an object, an array of objects): deeper nesting is refused
        // before parsing (wire::parse_json: linear, no callback).
        auto parsed = wire::parse_json(text, wire::JsonLimits{text.size(), 8});
        if (!parsed) return Error{fmt::format("catalog: {}", parsed.error().message)};
        const nlohmann::json& j = *parsed;
        if (!j.is_object()) return Error{"catalog: expected a JSON object"};
        Catalog c;
        if (j.contains("seed") && !wire::json_exact(j.at("seed"), &c.seed))
            return Error{"catalog: seed must be an integer from 0 to 2^64-1"};
        if (!j.contains("files") || !j["files"].is_array())
            return Error{"catalog: no \"files\" array"};
        size_t i = 0;
        for (const auto& e : j["files"]) {
            CatalogFile f;
            // Exact conversions: get<uint32_t>() of 2^32+1 would be 1, of a float out of range
            // undefined behaviour.
            auto field = [&](const char* key, auto* out, bool required) {
                auto it = e.is_object() ? e.find(key) : e.end();
                if (e.is_object() && it == e.end() && !required) return true;
                return e.is_object() && it != e.end() && wire::json_exact(*it, out);
            };
            if (!field("path", &f.path, true) || !field("size", &f.size, true) ||
                !field("sha256", &f.sha256, true) || !field("title", &f.title, false) ||
                !field("bitrate_kbps", &f.bitrate_kbps, false))
                return Error{fmt::format("catalog: files[{}]: needs path, size and sha256 (title "
                                         "and bitrate_kbps optional), integers in range",
                                         i)};
            if (const char* why = path_problem(f.path))
                return Error{fmt::format("catalog: files[{}]: path {}", i, why)};
            if (f.sha256.size() != 64 ||
                f.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
                return Error{
                    fmt::format("catalog: files[{}]: sha256 must be 64 lower-case hex digits", i)};
            c.files.push_back(std::move(f));
            ++i;
        }
        return c;
    } catch (const std::exception& e) {
        return Error{fmt::format("catalog: {}", e.what())};
    }
}

Status save(const Catalog& c, const std::string& out) {
    const std::string tmp = out + ".tmp";
    {
        std::ofstream o(tmp, std::ios::trunc);
        o << to_json(c);
        o.flush();
        if (!o) return Error::from_errno("write " + tmp);
    }
    if (::rename(tmp.c_str(), out.c_str()) != 0) return Error::from_errno("rename " + tmp);
    return {};
}

const char* path_problem(std::string_view path) {
    if (path.empty() || path.front() != '/') return "must start with '/'";
    if (path.size() > 1024) return "is longer than 1024 bytes";
    for (unsigned char c : path)
        if (c < 0x20 || c == 0x7f || c == '?' || c == '#' || c == '\\')
            return "has a control character, '?', '#' or '\\'";
    if (path.substr(1, 3) == "vt=") return "starts with 'vt=', which title URLs reserve";
    for (size_t at = 1; at <= path.size();) {
        size_t end = path.find('/', at);
        if (end == std::string_view::npos) end = path.size();
        const std::string_view seg = path.substr(at, end - at);
        if (seg.empty()) return "has an empty segment or ends in '/'";
        if (seg == "." || seg == "..") return "has a '.' or '..' segment";
        at = end + 1;
    }
    return nullptr;
}

Result<Catalog> load(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Error::from_errno("cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    return from_json(ss.str());
}

VerifyReport verify(const Catalog& c, const std::string& root) {
    VerifyReport r;
    for (const CatalogFile& f : c.files) {
        std::string p = root + f.path;
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) {
            r.problems.push_back(fmt::format("{}: missing", f.path));
            continue;
        }
        if (static_cast<uint64_t>(st.st_size) != f.size) {
            r.problems.push_back(fmt::format("{}: size {} != {}", f.path, st.st_size, f.size));
            continue;
        }
        auto h = sha256_file(p);
        if (!h) {
            r.problems.push_back(fmt::format("{}: {}", f.path, h.error().message));
            continue;
        }
        if (*h != f.sha256) {
            r.problems.push_back(fmt::format("{}: sha256 mismatch", f.path));
            continue;
        }
        ++r.ok;
    }
    return r;
}

} // namespace vcdn::catalog
