extension HTTPClient {
    /// Settings of an ``HTTPClient``; every field has a documented default.
    public struct Configuration: Sendable {
        /// The whole-exchange limit for requests that set no `timeout`. Default: 120 s.
        public var requestTimeout: Duration = .seconds(120)
        /// The connection limit (DNS, TCP, TLS) for requests that set no `connectTimeout`. Default: 10 s.
        public var connectTimeout: Duration = .seconds(10)
        /// Open connections per host at most; requests beyond wait inside curl for a free one
        /// (their `timeout` keeps running). 0, the default, sets no limit. With HTTP/2 one connection
        /// carries up to 100 concurrent requests.
        public var maxConnectionsPerHost: Int = 0
        /// Open connections in all at most; 0, the default, sets no limit.
        public var maxTotalConnections: Int = 0
        /// Idle connections kept for reuse (CURLMOPT_MAXCONNECTS). Default: 256. Keep it at least at the
        /// number of requests in flight at peak over HTTP/1.1, or connections are closed and reopened.
        public var maxCachedConnections: Int = 256
        /// The largest body ``HTTPClient/execute(_:)`` buffers; larger ones fail with `.responseTooLarge`.
        /// Default: 64 MiB.
        public var maxResponseBodyBytes: Int = 64 << 20
        /// Bytes a streamed body buffers before the transfer pauses until the reader catches up.
        /// Default: 1 MiB.
        public var streamBufferBytes: Int = 1 << 20
        /// The `User-Agent` for requests that set none; nil sends none. Default: `chorus`.
        public var userAgent: String? = "chorus"

        /// The defaults.
        public init() {}
    }
}
