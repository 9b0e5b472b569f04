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
