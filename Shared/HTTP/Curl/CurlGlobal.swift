import CCurl
import CCurlShim

/// `curl_global_init` runs once, before the first multi handle: a Swift global is initialised lazily
/// and thread-safely (swift_once). libcurl 7.88's own init is not thread-safe, so nothing else calls it.
/// Never cleaned up: the process may hold handles until exit.
let curlGlobalInitResult: CURLcode = chorus_curl_global_init_default()

/// What a write callback returns to pause its transfer (CURL_WRITEFUNC_PAUSE).
let curlWriteFunctionPause: Int = chorus_curl_writefunc_pause()
