#include <vcdn/base/mapped_read.h>

#include <mutex>

namespace vcdn::base {

namespace {

thread_local MappedReadGuard t_guard;
struct sigaction g_previous;
bool g_installed = false;
std::mutex g_mu;

void on_sigbus(int sig, siginfo_t* si, void* uc) {
    MappedReadGuard& g = t_guard;
    const char* at = static_cast<const char*>(si->si_addr);
    if (g.active && at >= g.lo && at < g.hi) {
        g.active = 0;
        g.fault_addr = si->si_addr;
        g.fault_code = si->si_code;
        siglongjmp(g.env, 1);
    }
    // Not a guarded read: behave as if this handler were not there. A handler installed before
    // ours gets the signal; otherwise the default action is restored and, the fault being
    // synchronous, the faulting instruction runs again and ends the process.
    if ((g_previous.sa_flags & SA_SIGINFO) && g_previous.sa_sigaction) {
        g_previous.sa_sigaction(sig, si, uc);
        return;
    }
    if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
        g_previous.sa_handler(sig);
        return;
    }
    signal(SIGBUS, SIG_DFL);
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
