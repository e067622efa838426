#pragma once
// Test support: a vcdn_slowfs FUSE mount (a slow or failing disk) that the test starts,
// steers by signals and always unmounts.
#include <string>

#include "process.h"

namespace vcdn::test {

class SlowFs {
public:
    ~SlowFs();
    // Why slow-disk tests cannot run here ("" when they can): no binary, no /dev/fuse, ...
    static std::string unavailable_reason();

    // Mounts `source` at `mountpoint` (created if needed); every read of file data sleeps
    // delay_ms. False when the mount did not appear.
    bool start(const std::string& source, const std::string& mountpoint, int delay_ms);
    void fail();      // every operation fails with EIO from now on
    void heal();      // back to normal
    void kill_hard(); // SIGKILL: the mount stays, dead ("Transport endpoint is not connected")
    void stop();      // unmount and reap
    const std::string& mountpoint() const { return mountpoint_; }

private:
    Process proc_;
    std::string mountpoint_;
};

// Drops a file's pages from the page cache (POSIX_FADV_DONTNEED, repeated until mincore
// shows none resident, up to 2 s): the next read is cold. False if they stay resident.
bool evict_from_page_cache(const std::string& path);

} // namespace vcdn::test
