#include <vcdn/base/process.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

extern char** environ;

namespace vcdn {

pid_t spawn_logged(const std::vector<std::string>& args, const std::string& log, bool append) {
    std::vector<char*> argv;
    for (const std::string& a : args)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], &fa, &at, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return rc == 0 ? pid : -1;
}

int wait_exit(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

namespace {

// A limit file's value: bytes, or UINT64_MAX for "max", v1's "unlimited" (LLONG_MAX rounded
// down to a page) and anything that does not read as a number.
uint64_t read_limit(const std::string& path) {
    std::ifstream in(path);
    std::string text;
    if (!in || !std::getline(in, text)) return UINT64_MAX;
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end == text.data() || v >= (uint64_t{1} << 62)) return UINT64_MAX;
    return v;
}

// The limits of `path` (a cgroup's path, "/a/b") and each of its ancestors, under `base`.
uint64_t smallest_up(const std::string& base, std::string path, const char* file) {
    uint64_t least = UINT64_MAX;
    // ".." never appears in a path the kernel writes; a line that has one is not followed.
    if (path.find("..") != std::string::npos) return least;
    for (;;) {
        least = std::min(least, read_limit(base + path + (path.ends_with('/') ? "" : "/") + file));
        if (path.empty() || path == "/") return least;
        const size_t slash = path.rfind('/');
        path.resize(slash == std::string::npos ? 0 : std::max<size_t>(slash, 1));
    }
}

} // namespace

uint64_t cgroup_memory_limit(std::string_view proc_self_cgroup, const std::string& cgroup_fs) {
    uint64_t least = UINT64_MAX;
    std::istringstream lines{std::string(proc_self_cgroup)};
    std::string line;
    while (std::getline(lines, line)) {
        // hierarchy-ID:controllers:path
        const size_t a = line.find(':');
        const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos || b + 1 >= line.size() || line[b + 1] != '/') continue;
        const std::string_view controllers = std::string_view(line).substr(a + 1, b - a - 1);
        const std::string path = line.substr(b + 1);
        if (line.compare(0, a, "0") == 0 && controllers.empty()) {
            least = std::min(least, smallest_up(cgroup_fs, path, "memory.max"));
            continue;
        }
        // v1: the memory controller's hierarchy ("memory", or among others: "cpu,memory").
        std::string_view rest = controllers;
        while (!rest.empty()) {
            const size_t comma = rest.find(',');
            if (rest.substr(0, comma) == "memory") {
                least = std::min(least,
                                 smallest_up(cgroup_fs + "/memory", path, "memory.limit_in_bytes"));
                break;
            }
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return least;
}

uint64_t usable_memory_bytes() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
    const uint64_t machine =
        pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
    std::ifstream in("/proc/self/cgroup");
    std::stringstream text;
    text << in.rdbuf();
    const uint64_t limit = cgroup_memory_limit(text.str(), "/sys/fs/cgroup");
    return machine == 0 ? (limit == UINT64_MAX ? 0 : limit) : std::min(machine, limit);
}

} // namespace vcdn
