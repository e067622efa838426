#pragma once
// Starting child programs (the demo's processes, ffmpeg for media titles) with their output
// in a log file, and the memory this process may use.
//
// Threads: any thread; no shared state.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vcdn {

// Starts argv (argv[0] searched on PATH when it has no '/') with stdin from /dev/null, stdout
// and stderr into `log` (appended, or truncated first), and every signal unblocked: a parent
// that blocks signals for sigtimedwait does not pass that on. The child's pid, or -1 when it
// could not be started.
pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& log, bool append);

// Waits for `pid` to end: its exit status, or 128 + the signal that ended it.
int wait_exit(pid_t pid);

// The memory this process may use: the machine's, or less where a memory cgroup it is in (or
// one of that cgroup's ancestors) is limited — an edge in a container of 8 GiB on a host of
// 256 GiB has a page cache of at most 8 GiB, and sizes what it keeps per MiB of page cache by
// that.
uint64_t usable_memory_bytes();
// The smallest memory limit of the cgroups in `proc_self_cgroup` (the text of
// /proc/self/cgroup) and their ancestors, read under `cgroup_fs` (/sys/fs/cgroup): cgroup v2's
// memory.max and v1's memory/.../memory.limit_in_bytes. UINT64_MAX when none is limited or
// nothing can be read.
uint64_t cgroup_memory_limit(std::string_view proc_self_cgroup, const std::string& cgroup_fs);

} // namespace vcdn
