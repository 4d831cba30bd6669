/// Logger metadata keys of this module: constants, so every log line spells them alike.
enum LogKey {
    static let method = "http.method"
    static let host = "http.host"
    static let path = "http.path"
    static let curlCode = "http.curl_code"
}
