#include <libpq-fe.h>
#include <poll.h>

/// Waits up to `timeout_ms` for `fd` to be readable; 1 when it is, 0 on timeout, -1 on error.
static inline int cqr3_pq_wait_readable(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN, .revents = 0 };
    int n = poll(&p, 1, timeout_ms);
    return n > 0 ? 1 : n;
}
