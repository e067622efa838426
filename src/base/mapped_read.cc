#include <vcdn/base/mapped_read.h>

#include <mutex>

namespace vcdn::base {

namespace {

thread_local MappedReadGuard t_guard;
struct sigaction g_previous;
bool g_installed = false;
std::mutex g_mu;

// Only a fault the kernel raised synchronously at the faulting instruction is ours to catch:
// past the end of the file or an I/O error (BUS_ADRERR, BUS_OBJERR), or bad memory under the
// page (BUS_MCEERR_AR). Not a signal sent with kill(2) (si_code <= 0), and not the advance
// notice of bad memory (BUS_MCEERR_AO), which can arrive at any instruction.
bool synchronous_fault(const siginfo_t* si) {
    return si->si_code == BUS_ADRERR || si->si_code == BUS_OBJERR || si->si_code == BUS_MCEERR_AR;
}

void on_sigbus(int sig, siginfo_t* si, void* uc) {
    MappedReadGuard& g = t_guard;
    const char* at = static_cast<const char*>(si->si_addr);
    if (g.active && synchronous_fault(si) && at >= g.lo && at < g.hi) {
        g.active = 0;
        g.fault_addr = si->si_addr;
        g.fault_code = si->si_code;
        siglongjmp(g.env, 1);
    }
    // Not a guarded read: what would have happened without this handler. A handler installed
    // before ours gets the signal. A SIGBUS sent with kill(2) that was ignored stays ignored
    // (and this handler in place). Otherwise the default action: the process ends (a real fault
    // cannot be ignored: the kernel would have reset an ignored SIGBUS to the default, and
    // returning would only run the faulting instruction again).
    if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
        g_previous.sa_sigaction(sig, si, uc);
        return;
    }
    if (g_previous.sa_handler == SIG_IGN && si->si_code <= 0) return;
    if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
        return;
    }
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGBUS, &dfl, nullptr);
    raise(SIGBUS); // delivered at once (not blocked: SA_NODEFER), with the default action
}

} // namespace

bool install_mapped_read_handler() {
    std::lock_guard<std::mutex> lk(g_mu);
    if (g_installed) return true;
    struct sigaction sa = {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_previous) != 0) return false;
    g_installed = true;
    return true;
}

MappedReadGuard& mapped_read_guard() {
    return t_guard;
}

} // namespace vcdn::base
