// Reading a file through a shared mapping without letting a bad page take the process down.
//
// Touching a mapped page that the kernel cannot supply raises SIGBUS: the file was truncated
// below the page since it was mapped, or the page had been evicted and reading it back failed
// (a failing disk, a memory error). The default action kills the whole edge. A read done under
// `guarded_mapped_read` instead returns false when its own range faults; the thread jumps back
// out of the code that touched the page (which must be C code or C++ frames without
// destructors to run, such as OpenSSL's SSL_write), and the caller drops whatever state that
// code was in the middle of (for SSL_write: the connection's SSL object, never used again).
// A SIGBUS on any other address, or in a thread with no guard, still takes the default action
// (or the handler that was installed before, such as AddressSanitizer's).
#pragma once

#include <csetjmp>
#include <csignal>
#include <cstddef>

namespace vcdn::base {

struct MappedReadGuard {
    sigjmp_buf env;
    const char* lo = nullptr; // the guarded address range [lo, hi)
    const char* hi = nullptr;
    volatile sig_atomic_t active = 0;
    void* fault_addr = nullptr; // where the last caught fault was
    int fault_code = 0;         // its si_code: BUS_ADRERR (past the end, or an I/O error),
                                // BUS_MCEERR_AR (the memory holding the page is bad), ...
};

// Installs the process's SIGBUS handler (idempotent, thread-safe). False if sigaction failed;
// guarded reads must then not be attempted.
bool install_mapped_read_handler();

// The calling thread's guard (the handler reads it; it lives in thread-local storage of the
// executable, so the handler needs no allocation).
MappedReadGuard& mapped_read_guard();

// Runs fn() with faults on [lo, lo + len) caught. Returns true when fn() returned, false when
// a page of the range could not be read (fn() was abandoned at the faulting access). Not
// reentrant within one thread. fn must not hold objects with destructors across the access.
template <class Fn>
[[gnu::noinline]] bool guarded_mapped_read(const void* lo, size_t len, Fn&& fn) {
    MappedReadGuard& g = mapped_read_guard();
    g.lo = static_cast<const char*>(lo);
    g.hi = g.lo + len;
    // savemask 0: no system call. The handler is installed with SA_NODEFER, so SIGBUS is not
    // left blocked after the jump.
    if (sigsetjmp(g.env, 0) != 0) return false; // the handler cleared `active`
    g.active = 1;
    fn();
    g.active = 0;
    return true;
}

// Reads one byte of every page of [p, p + n): under guarded_mapped_read, a cheap way to find a
// bad page before handing the range to code that must not be abandoned half-way (OpenSSL
// leaks the bookkeeping of a record it was writing).
inline void touch_pages(const void* p, size_t n) {
    if (n == 0) return;
    constexpr size_t kPage = 4096; // the smallest page: touching more often than needed is safe
    const volatile char* b = static_cast<const volatile char*>(p);
    for (size_t i = 0; i < n; i += kPage)
        (void)b[i];
    (void)b[n - 1];
}

} // namespace vcdn::base
