/*
 * The libcurl ceiling: the same POSTs the daemon sends (same body, same headers, same
 * concurrency, same reused easy handles and connection cache), fired by a bare libcurl multi
 * loop with no database, no signing and no bookkeeping. `make bench` compares the daemon to it.
 *
 * usage: curl-ceiling URL COUNT CONCURRENCY BODY_FILE
 * prints one JSON line: {"requests":N,"ok":N,"seconds":S,"rps":R,"cpu_seconds":C,"max_rss_kib":K}
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static size_t discard(char *data, size_t size, size_t count, void *user) {
    (void)data; (void)user;
    return size * count;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s URL COUNT CONCURRENCY BODY_FILE\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    long total = atol(argv[2]);
    int concurrency = atoi(argv[3]);
    FILE *file = fopen(argv[4], "rb");
    if (!file) { perror(argv[4]); return 2; }
    static char body[1 << 20];
    size_t body_length = fread(body, 1, sizeof body, file);
    fclose(file);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)concurrency * 2);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    headers = curl_slist_append(headers, "X-QR3-Signature: sha256=3f1b0c8d6a0e5e3b4f2b8f0d4c1a9e7d6b5c4a3f2e1d0c9b8a7f6e5d4c3b2a19");
    headers = curl_slist_append(headers, "X-QR3-Event-Id: evt_0000000000000000000000");
    headers = curl_slist_append(headers, "X-QR3-Event-Type: qr.scanned");
    headers = curl_slist_append(headers, "X-QR3-Delivery-Attempt: 1");
    headers = curl_slist_append(headers, "X-QR3-Webhook-Id: wh_00000000000000000000");

    CURL **handles = calloc(concurrency, sizeof(CURL *));
    for (int i = 0; i < concurrency; i++) {
        CURL *easy = curl_easy_init();
        curl_easy_setopt(easy, CURLOPT_URL, url);
        curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_length);
        curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(easy, CURLOPT_USERAGENT, "qr3-webhookd/ceiling");
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
        curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 4096L); /* as the daemon's handles */
        handles[i] = easy;
    }

    long started = 0, finished = 0, ok = 0;
    double begin = now();
    for (int i = 0; i < concurrency && started < total; i++, started++) {
        curl_multi_add_handle(multi, handles[i]);
    }
    while (finished < total) {
        int running = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *message;
        int left;
        while ((message = curl_multi_info_read(multi, &left))) {
            if (message->msg != CURLMSG_DONE) continue;
            CURL *easy = message->easy_handle;
            long status = 0;
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            if (message->data.result == CURLE_OK && status >= 200 && status < 300) ok++;
            finished++;
            curl_multi_remove_handle(multi, easy);
            if (started < total) {
                curl_multi_add_handle(multi, easy);
                started++;
            }
        }
        if (finished < total) curl_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    double seconds = now() - begin;
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
    printf("{\"requests\":%ld,\"ok\":%ld,\"seconds\":%.3f,\"rps\":%.1f,\"cpu_seconds\":%.3f,\"max_rss_kib\":%ld}\n",
           finished, ok, seconds, finished / seconds, cpu, usage.ru_maxrss);
    return ok == total ? 0 : 1;
}
