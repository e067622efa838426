#pragma once
// Starting child programs (the demo's processes, ffmpeg for media titles) with their output
// in a log file.
//
// Threads: any thread; no shared state.
#include <sys/types.h>

#include <string>
#include <vector>

namespace vcdn {

// Starts argv (argv[0] searched on PATH when it has no '/') with stdin from /dev/null, stdout
// and stderr into `log` (appended, or truncated first), and every signal unblocked: a parent
// that blocks signals for sigtimedwait does not pass that on. The child's pid, or -1 when it
// could not be started.
pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& log, bool append);

// Waits for `pid` to end: its exit status, or 128 + the signal that ended it.
int wait_exit(pid_t pid);

} // namespace vcdn
