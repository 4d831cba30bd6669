#define _GNU_SOURCE
#include <pthread.h>

#include "CCurlShim.h"

CURLcode chorus_curl_global_init_default(void) { return curl_global_init(CURL_GLOBAL_DEFAULT); }

CURLcode chorus_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode chorus_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode chorus_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode chorus_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode chorus_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode chorus_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, chorus_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

CURLcode chorus_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

CURLcode chorus_curl_easy_getinfo_private(CURL *handle, void **value) {
    char *pointer = NULL;
    CURLcode code = curl_easy_getinfo(handle, CURLINFO_PRIVATE, &pointer);
    *value = pointer;
    return code;
}

CURLMcode chorus_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value) {
    return curl_multi_setopt(multi, option, value);
}

CURLcode chorus_curl_easy_unpause(CURL *handle) { return curl_easy_pause(handle, CURLPAUSE_CONT); }

size_t chorus_curl_writefunc_pause(void) { return CURL_WRITEFUNC_PAUSE; }

CURLcode chorus_curl_msg_result(const CURLMsg *message) { return message->data.result; }

void chorus_set_current_thread_name(const char *name) {
#ifdef __linux__
    pthread_setname_np(pthread_self(), name);
#else
    (void)name;
#endif
}
