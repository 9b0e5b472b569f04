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

#include <stdlib.h>
#include <unistd.h>

// What the epoll set knows of each socket, in `cqr3_epoll_set.state` (indexed by descriptor).
#define CQR3_SOCKET_IN 1          // registered for reading
#define CQR3_SOCKET_OUT 2         // registered for writing
#define CQR3_SOCKET_REGISTERED 4  // in the epoll set
#define CQR3_SOCKET_OWNED 8       // opened through the easy handles' open-socket callback
#define CQR3_SOCKET_WANTED 16     // libcurl wants it watched (it has not said CURL_POLL_REMOVE since)

/// The transfer loop's epoll set and what each socket is registered for.
///
/// libcurl says what it wants for each socket through the socket callback, and repeats itself more
/// often than it changes its mind; most of the calls are for kept-alive connections, told to
/// watch for an answer when a request goes out and removed when the answer is in. The set saves
/// the system calls that would change nothing:
/// - a request that wants what its socket is registered for already costs no epoll_ctl;
/// - a socket the daemon opened (OWNED: through the open-socket callback, closed through the
///   close-socket callback) stays registered when libcurl removes it, while its connection waits in
///   libcurl's cache for the next request. If it becomes ready meanwhile (the receiver closed an
///   idle connection), `cqr3_epoll_wait` takes it out of the set then, without reporting it (libcurl
///   finds the closed connection itself before it reuses it);
/// - a socket libcurl made itself (the resolver's) is added and deleted as libcurl says, every time:
///   it may be closed without the close-socket callback, so what is known of it could be stale.
/// Opening or closing a socket starts it from a clean entry, so a reused descriptor number never
/// inherits an old registration. Confined to the transfer-loop thread.
struct cqr3_epoll_set {
    int fd;
    int capacity;
    unsigned char *state;
    /// How many descriptors are in the epoll set (read from other threads: `cqr3_epoll_registered`).
    int registered;
};

/// Counts a descriptor going into (+1) or out of (-1) the epoll set.
static inline void cqr3_epoll_count(struct cqr3_epoll_set *set, int change) {
    __atomic_fetch_add(&set->registered, change, __ATOMIC_RELAXED);
}

/// How many descriptors are in the epoll set (the wake-up eventfd included); any thread.
static inline int cqr3_epoll_registered(struct cqr3_epoll_set *set) {
    return __atomic_load_n(&set->registered, __ATOMIC_RELAXED);
}

/// A set with an epoll descriptor (-1 if epoll_create1 failed); free with `cqr3_epoll_set_free`.
static inline struct cqr3_epoll_set *cqr3_epoll_set_create(void) {
    struct cqr3_epoll_set *set = calloc(1, sizeof(struct cqr3_epoll_set));
    if (set == NULL) return NULL;
    set->fd = epoll_create1(EPOLL_CLOEXEC);
    return set;
}

/// Closes the epoll descriptor and frees the set (after curl_multi_cleanup: the cache's sockets are closed through it).
static inline void cqr3_epoll_set_free(struct cqr3_epoll_set *set) {
    if (set == NULL) return;
    if (set->fd >= 0) close(set->fd);
    free(set->state);
    free(set);
}

/// The state of socket `s`, growing the table to hold it; NULL when it cannot.
static inline unsigned char *cqr3_epoll_state(struct cqr3_epoll_set *set, int s) {
    if (s < 0) return NULL;
    if (s >= set->capacity) {
        int capacity = set->capacity > 0 ? set->capacity : 1024;
        while (capacity <= s) capacity *= 2;
        unsigned char *grown = realloc(set->state, (size_t)capacity);
        if (grown == NULL) return NULL;
        for (int i = set->capacity; i < capacity; i++) grown[i] = 0;
        set->state = grown;
        set->capacity = capacity;
    }
    return &set->state[s];
}

/// Registers `s` for `events` (CQR3_SOCKET_IN / _OUT), adding or modifying as the kernel needs.
static inline int cqr3_epoll_register(struct cqr3_epoll_set *set, int s, unsigned char *state, int events) {
    struct epoll_event event = {0};
    event.events = ((events & CQR3_SOCKET_IN) ? EPOLLIN : 0) | ((events & CQR3_SOCKET_OUT) ? EPOLLOUT : 0);
    event.data.fd = s;
    int result;
    if (state != NULL && (*state & CQR3_SOCKET_REGISTERED)) {
        result = epoll_ctl(set->fd, EPOLL_CTL_MOD, s, &event);
        if (result != 0 && errno == ENOENT) result = epoll_ctl(set->fd, EPOLL_CTL_ADD, s, &event);
    } else {
        result = epoll_ctl(set->fd, EPOLL_CTL_ADD, s, &event);
        if (result != 0 && errno == EEXIST) result = epoll_ctl(set->fd, EPOLL_CTL_MOD, s, &event);
    }
    if (state != NULL) {
        int was = (*state & CQR3_SOCKET_REGISTERED) != 0;
        if (result == 0 && !was) cqr3_epoll_count(set, 1);
        if (result != 0 && was) cqr3_epoll_count(set, -1);
        unsigned char owned = *state & CQR3_SOCKET_OWNED;
        *state = result == 0 ? (unsigned char)(owned | CQR3_SOCKET_WANTED | CQR3_SOCKET_REGISTERED | events)
                             : (unsigned char)(owned | CQR3_SOCKET_WANTED);
    }
    return result;
}

/// Forgets what the set knew of a socket that has left the epoll set (deleted, or closed): it is
/// no longer counted, and its entry starts again as `fresh`.
static inline void cqr3_epoll_forget(struct cqr3_epoll_set *set, unsigned char *state, unsigned char fresh) {
    if (*state & CQR3_SOCKET_REGISTERED) cqr3_epoll_count(set, -1);
    *state = fresh;
}

/// Takes `s` out of the epoll set.
static inline void cqr3_epoll_unregister(struct cqr3_epoll_set *set, int s, unsigned char *state) {
    epoll_ctl(set->fd, EPOLL_CTL_DEL, s, NULL);
    if (state != NULL) cqr3_epoll_forget(set, state, *state & CQR3_SOCKET_OWNED);
}

/// CURLMOPT_SOCKETFUNCTION: keeps the epoll set (`userp`, a struct cqr3_epoll_set *) in step with
/// what libcurl wants to wait for on each socket, with an epoll_ctl call only when that changes.
static inline int cqr3_socket_epoll(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)easy; (void)socketp;
    struct cqr3_epoll_set *set = userp;
    unsigned char *state = cqr3_epoll_state(set, s);
    if (what == CURL_POLL_REMOVE) {
        if (state != NULL && (*state & CQR3_SOCKET_OWNED) && (*state & CQR3_SOCKET_REGISTERED)) {
            *state &= (unsigned char)~CQR3_SOCKET_WANTED;
        } else {
            cqr3_epoll_unregister(set, s, state);
        }
        return 0;
    }
    int events = ((what & CURL_POLL_IN) ? CQR3_SOCKET_IN : 0) | ((what & CURL_POLL_OUT) ? CQR3_SOCKET_OUT : 0);
    int known = CQR3_SOCKET_OWNED | CQR3_SOCKET_REGISTERED | CQR3_SOCKET_IN | CQR3_SOCKET_OUT;
    if (state != NULL && (*state & known) == (CQR3_SOCKET_OWNED | CQR3_SOCKET_REGISTERED | events)) {
        *state |= CQR3_SOCKET_WANTED;
        return 0;
    }
    cqr3_epoll_register(set, s, state, events);
    return 0;
}

/// Records a socket the open-socket callback just created: whatever an earlier socket of that number left is gone.
static inline void cqr3_epoll_opened(struct cqr3_epoll_set *set, int s) {
    unsigned char *state = cqr3_epoll_state(set, s);
    // The number was free, so whatever held it before was closed, and left the set with it.
    if (state != NULL) cqr3_epoll_forget(set, state, CQR3_SOCKET_OWNED);
}

/// CURLOPT_CLOSESOCKETFUNCTION (`clientp`, the set): forgets the socket and closes it (which also
/// takes it out of the epoll set).
static inline int cqr3_epoll_close_socket(void *clientp, curl_socket_t s) {
    struct cqr3_epoll_set *set = clientp;
    if (s >= 0 && s < set->capacity) cqr3_epoll_forget(set, &set->state[s], 0);
    return close(s);
}

/// Points an easy handle's close-socket callback at `set`.
static inline CURLcode cqr3_easy_use_epoll_close(CURL *handle, struct cqr3_epoll_set *set) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_CLOSESOCKETFUNCTION, cqr3_epoll_close_socket);
    if (code == CURLE_OK) code = curl_easy_setopt(handle, CURLOPT_CLOSESOCKETDATA, (void *)set);
    return code;
}

/// CURLMOPT_TIMERFUNCTION: stores when libcurl wants CURL_SOCKET_TIMEOUT (`userp`, a long long *
/// of monotonic milliseconds; -1 for never).
static inline int cqr3_timer_store(CURLM *multi, long timeout_ms, void *userp) {
    (void)multi;
    *(long long *)userp = timeout_ms < 0 ? -1 : cqr3_now_ms() + timeout_ms;
    return 0;
}

/// Points the multi handle's socket and timer callbacks at `set` and `deadline`.
static inline CURLMcode cqr3_multi_use_epoll(CURLM *multi, struct cqr3_epoll_set *set, long long *deadline) {
    CURLMcode code = curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, cqr3_socket_epoll);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, (void *)set);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, cqr3_timer_store);
    if (code == CURLM_OK) code = curl_multi_setopt(multi, CURLMOPT_TIMERDATA, (void *)deadline);
    return code;
}

/// Adds `fd` to the set for reading, as a socket always watched (the loop's wake-up eventfd).
static inline int cqr3_epoll_add_reader(struct cqr3_epoll_set *set, int fd) {
    return cqr3_epoll_register(set, fd, cqr3_epoll_state(set, fd), CQR3_SOCKET_IN);
}

/// Waits up to `timeout_ms` for at most `capacity` (up to 512) events; writes each one's socket
/// and its CURL_CSELECT_* bits. A socket libcurl does not want watched (a kept-alive connection
/// waiting in its cache, left registered) is taken out of the set instead of being reported.
/// Returns the count, or -1 (errno set).
static inline int cqr3_epoll_wait(struct cqr3_epoll_set *set, int *sockets, int *actions, int capacity, int timeout_ms) {
    struct epoll_event events[512];
    if (capacity > 512) capacity = 512;
    int count = epoll_wait(set->fd, events, capacity, timeout_ms);
    int reported = 0;
    for (int i = 0; i < count; i++) {
        int s = events[i].data.fd;
        if (s >= 0 && s < set->capacity) {
            unsigned char state = set->state[s];
            if ((state & CQR3_SOCKET_REGISTERED) && !(state & CQR3_SOCKET_WANTED)) {
                cqr3_epoll_unregister(set, s, &set->state[s]);
                continue;
            }
        }
        unsigned int e = events[i].events;
        sockets[reported] = s;
        actions[reported] = ((e & (EPOLLIN | EPOLLHUP | EPOLLERR)) ? CURL_CSELECT_IN : 0)
            | ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) | ((e & EPOLLERR) ? CURL_CSELECT_ERR : 0);
        reported++;
    }
    return count < 0 ? count : reported;
}

/// The socket argument of curl_multi_socket_action that means "the timer ran out".
static inline curl_socket_t cqr3_socket_timeout(void) {
    return CURL_SOCKET_TIMEOUT;
}
#endif
