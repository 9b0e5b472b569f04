#include <curl/curl.h>
#include <sys/socket.h>

// Swift cannot call C variadic functions, so each variadic libcurl entry point
// gets one non-variadic wrapper per argument type. Every symbol is prefixed.

static inline CURLcode cqr3_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode cqr3_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode cqr3_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode cqr3_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode cqr3_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

typedef size_t (*cqr3_write_callback)(char *data, size_t size, size_t count, void *userdata);

static inline CURLcode cqr3_easy_setopt_write_function(CURL *handle, cqr3_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

static inline CURLcode cqr3_easy_setopt_header_function(CURL *handle, cqr3_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, callback);
}

typedef curl_socket_t (*cqr3_opensocket_callback)(void *clientp, curlsocktype purpose, struct curl_sockaddr *address);

static inline CURLcode cqr3_easy_setopt_opensocket_function(CURL *handle, cqr3_opensocket_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, callback);
}

static inline CURLcode cqr3_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode cqr3_easy_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode cqr3_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode cqr3_easy_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLMcode cqr3_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}

/// The socket libcurl should fail with when an address is refused by policy.
static inline curl_socket_t cqr3_bad_socket(void) {
    return CURL_SOCKET_BAD;
}

#if defined(__linux__)
#include <sys/prctl.h>
#endif

/// Names the calling thread (at most 15 bytes are kept), as `top -H` and `perf` show it.
static inline void cqr3_name_current_thread(const char *name) {
#if defined(__linux__)
    prctl(PR_SET_NAME, name, 0, 0, 0);
#else
    (void)name;
#endif
}

// The transfer loop's event source: libcurl's sockets in an epoll set, driven with
// curl_multi_socket_action, so a turn of the loop costs what happened rather than what is in
// flight (curl_multi_perform and curl_multi_poll visit every transfer on every turn).
#if defined(__linux__)
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

/// A non-blocking, close-on-exec eventfd: the transfer loop's wake-up.
static inline int cqr3_wakeup_descriptor(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/// Monotonic milliseconds.
static inline long long cqr3_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/// CURLMOPT_SOCKETFUNCTION: keeps the epoll set (`userp`, an int *) in step with what libcurl
/// wants to wait for on each socket.
static inline int cqr3_socket_epoll(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)easy; (void)socketp;
    int epfd = *(int *)userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event event = {0};
    event.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    event.data.fd = s;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &event) != 0 && errno == ENOENT) {
        epoll_ctl(epfd, EPOLL_CTL_ADD, s, &event);
    }
    return 0;
}

/// CURLMOPT_TIMERFUNCTION: stores when libcurl wants CURL_SOCKET_TIMEOUT (`userp`, a long long *
/// of monotonic milliseconds; -1 for never).
static inline int cqr3_timer_store(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    *(long long *)userp = timeout_ms < 0 ? -1 : cqr3_now_ms() + timeout_ms;
    return 0;
}

/// Points the multi handle's socket and timer callbacks at `epfd` and `deadline`.
static inline CURLMcode cqr3_multi_use_epoll(CURLM *multi, int *epfd, long long *deadline) {
    CURLMcode code = curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, cqr3_socket_epoll);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, (void *)epfd);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, cqr3_timer_store);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_TIMERDATA, (void *)deadline);
    return code;
}

/// Adds `fd` to the epoll set for reading (the loop's wake-up eventfd).
static inline int cqr3_epoll_add_reader(int epfd, int fd) {
    struct epoll_event event = {0};
    event.events = EPOLLIN;
    event.data.fd = fd;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

/// Waits up to `timeout_ms` for at most `capacity` (up to 512) events; writes each one's socket
/// and its CURL_CSELECT_* bits. Returns the count, or -1 (errno set).
static inline int cqr3_epoll_wait(int epfd, int *sockets, int *actions, int capacity, int timeout_ms) {
    struct epoll_event events[512];
    if (capacity > 512) capacity = 512;
    int count = epoll_wait(epfd, events, capacity, timeout_ms);
    for (int i = 0; i < count; i++) {
        unsigned int e = events[i].events;
        sockets[i] = events[i].data.fd;
        actions[i] = ((e & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? CURL_CSELECT_IN : 0)
            | ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) | ((e & EPOLLERR) ? CURL_CSELECT_ERR : 0);
    }
    return count;
}

/// The socket argument of curl_multi_socket_action that means "the timer ran out".
static inline curl_socket_t cqr3_socket_timeout(void) {
    return CURL_SOCKET_TIMEOUT;
}
#endif
