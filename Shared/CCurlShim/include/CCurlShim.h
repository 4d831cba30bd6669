#pragma once
#include <curl/curl.h>

// Typed, non-variadic wrappers around libcurl's variadic calls (curl_easy_setopt, curl_easy_getinfo,
// curl_multi_setopt) and around macros Swift cannot import. Swift refuses to call C variadics, so each
// argument kind gets one wrapper; the option constant says which wrapper fits (curl.h's CURLOPTTYPE_*).

/// The shape of CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION and CURLOPT_READFUNCTION callbacks.
typedef size_t (*chorus_curl_data_callback)(char *data, size_t size, size_t count, void *userdata);

/// Runs curl_global_init(CURL_GLOBAL_DEFAULT). Not thread-safe by itself: call it once (Swift's lazy global does).
CURLcode chorus_curl_global_init_default(void);

// MARK: - curl_easy_setopt by argument kind

/// For CURLOPTTYPE_LONG and CURLOPTTYPE_VALUES options.
CURLcode chorus_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
/// For CURLOPTTYPE_OFF_T options (the *_LARGE sizes).
CURLcode chorus_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
/// For CURLOPTTYPE_STRINGPOINT options; libcurl copies the string (except CURLOPT_POSTFIELDS, which we never use).
CURLcode chorus_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
/// For CURLOPTTYPE_OBJECTPOINT/CBPOINT options that take an opaque pointer (userdata, CURLOPT_PRIVATE,
/// CURLOPT_ERRORBUFFER, CURLOPT_COPYPOSTFIELDS). The caller keeps the pointee alive as the option requires.
CURLcode chorus_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
/// For CURLOPTTYPE_SLISTPOINT options. libcurl does NOT copy the list: keep it until the handle is reset or cleaned up.
CURLcode chorus_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
/// For CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION and CURLOPT_READFUNCTION.
CURLcode chorus_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, chorus_curl_data_callback value);

// MARK: - curl_easy_getinfo by result kind

/// For CURLINFO_LONG results (CURLINFO_RESPONSE_CODE, ...).
CURLcode chorus_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
/// For CURLINFO_PRIVATE (a char * in curl.h that holds whatever pointer CURLOPT_PRIVATE set).
CURLcode chorus_curl_easy_getinfo_private(CURL *handle, void **value);

// MARK: - curl_multi_setopt and macros

/// For CURLMOPT options that take a long.
CURLMcode chorus_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
/// curl_easy_pause(handle, CURLPAUSE_CONT): CURLPAUSE_CONT is a macro expression Swift does not import.
CURLcode chorus_curl_easy_unpause(CURL *handle);
/// The value a write callback returns to pause its transfer (CURL_WRITEFUNC_PAUSE).
size_t chorus_curl_writefunc_pause(void);
/// The result of CURLMSG_DONE messages (a union member in CURLMsg).
CURLcode chorus_curl_msg_result(const CURLMsg *message);

// MARK: - Threads

/// Names the calling thread (Linux keeps 15 characters) so `top -H` and perf show the curl loop.
/// pthread_setname_np needs _GNU_SOURCE, which Swift's Glibc module does not define.
void chorus_set_current_thread_name(const char *name);
