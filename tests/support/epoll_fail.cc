// vcdn_epoll_fail: a library preloaded (LD_PRELOAD) into a process under test that makes one
// thread's epoll_wait fail, for the test of what the edge does when a worker loop ends by itself
// (nothing else can make epoll_wait fail but a bug). In the thread named
// VCDN_TEST_EPOLL_FAIL_THREAD (e.g. "vcdn-w1"), once the file VCDN_TEST_EPOLL_FAIL_FILE exists,
// epoll_wait returns -1 with EBADF, as it would on a closed epoll descriptor. Everything else
// goes to the C library's epoll_wait.
//
// Built without sanitizers: a preloaded library comes before their runtimes.
#include <dlfcn.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

using EpollWait = int (*)(int, epoll_event*, int, int);

EpollWait real_epoll_wait() {
    static const EpollWait real = reinterpret_cast<EpollWait>(::dlsym(RTLD_NEXT, "epoll_wait"));
    return real;
}

// Whether this thread is the one to fail: decided at its first call (the edge names a worker
// thread before its loop's first epoll_wait).
bool is_target_thread() {
    thread_local int target = -1;
    if (target < 0) {
        const char* want = std::getenv("VCDN_TEST_EPOLL_FAIL_THREAD");
        char name[16] = {};
        target = want && ::pthread_getname_np(::pthread_self(), name, sizeof name) == 0 &&
                 std::strcmp(name, want) == 0;
    }
    return target == 1;
}

} // namespace

extern "C" int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout) {
    if (is_target_thread()) {
        const char* file = std::getenv("VCDN_TEST_EPOLL_FAIL_FILE");
        if (file && ::access(file, F_OK) == 0) {
            errno = EBADF;
            return -1;
        }
    }
    return real_epoll_wait()(epfd, events, maxevents, timeout);
}
