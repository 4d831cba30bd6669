import Foundation

/// A response whose status says the request failed: rate limited (429), a server error (5xx, 408),
/// or a client error (other 4xx).
///
/// Made by ``HTTPResponse/checked(now:)`` or ``HTTPResponse/failure(now:)``. The description names the
/// method, host, port, path and status; never the query string, headers or bodies.
public struct HTTPStatusError: Error, Sendable, CustomStringConvertible {
    /// The failure class. A struct with static members, so new codes do not break exhaustive switches.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Kind: Sendable, Hashable { case rateLimited, serverError, clientError }
        private let kind: Kind

        /// 429 Too Many Requests: retriable, after ``HTTPStatusError/retryAfter`` when given.
        public static let rateLimited = Code(kind: .rateLimited)
        /// 5xx, and 408 Request Timeout: retriable for 408, 500, 502, 503, 504 and 529 (Anthropic's "overloaded").
        public static let serverError = Code(kind: .serverError)
        /// Any other 4xx: the request itself is wrong (bad key, bad model name, too long); not retriable.
        public static let clientError = Code(kind: .clientError)

        public var description: String {
            switch kind {
            case .rateLimited: "rate limited"
            case .serverError: "server error"
            case .clientError: "client error"
            }
        }
    }

    /// The failure class.
    public let code: Code
    /// The HTTP status code.
    public let status: Int
    /// How long the server asked to wait (`Retry-After`, in seconds or as an HTTP-date), when it said.
    public let retryAfter: Duration?
    /// The request method.
    public let method: HTTPMethod
    /// The host the request went to.
    public let host: String
    /// The port, explicit or the scheme's default.
    public let port: Int?
    /// The URL path, without query string.
    public let path: String
    /// The response body (providers explain the failure there). Never part of `description`.
    public let responseBody: [UInt8]

    /// Whether the same request may succeed later: 429, 408, 500, 502, 503, 504 and 529.
    public var isRetriable: Bool {
        code == .rateLimited || Self.retriableServerStatuses.contains(status)
    }

    static let retriableServerStatuses: Set<Int> = [408, 500, 502, 503, 504, 529]

    /// Classifies a status; nil for `1xx`–`3xx`.
    init?(status: Int, headers: HTTPHeaders, responseBody: [UInt8], target: RequestTarget, now: Date) {
        switch status {
        case 100..<400: return nil
        case 429: code = .rateLimited
        case 408: code = .serverError
        case 400..<500: code = .clientError
        default: code = .serverError  // 5xx, and nonsense statuses
        }
        self.status = status
        self.retryAfter = headers["Retry-After"].flatMap { Self.parseRetryAfter($0, now: now) }
        self.method = target.method
        self.host = target.host
        self.port = target.port
        self.path = target.path
        self.responseBody = responseBody
    }

    public var description: String {
        let hostAndPort = port.map { "\(host):\($0)" } ?? host
        var text = "HTTP \(method.rawValue) \(hostAndPort)\(path): \(code) (status \(status)"
        if let retryAfter { text += ", retry after \(retryAfter)" }
        return text + ")"
    }

    // MARK: - Retry-After

    /// Parses a `Retry-After` value: delta-seconds (`"120"`) or an HTTP-date in any of the three forms
    /// RFC 9110 §5.6.7 lists (IMF-fixdate, RFC 850, asctime). A date in the past gives zero; nonsense gives nil.
    public static func parseRetryAfter(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            // Cap absurd values instead of overflowing: a day is already longer than any sane back-off.
            guard let seconds = Int64(trimmed.prefix(12)) else { return nil }
            return .seconds(min(seconds, 86_400 * 365))
        }
        guard let epochSeconds = parseHTTPDate(trimmed) else { return nil }
        let delta = Double(epochSeconds) - now.timeIntervalSince1970
        return delta > 0 ? .milliseconds(Int64((delta * 1000).rounded(.up))) : .zero
    }

    /// Seconds since 1970 for an HTTP-date, or nil.
    ///
    /// The three forms differ only in separators and order: `Sun, 06 Nov 1994 08:49:37 GMT`,
    /// `Sunday, 06-Nov-94 08:49:37 GMT`, `Sun Nov  6 08:49:37 1994`. In each the numeric tokens
    /// are the day then the year, the month is a name and the time holds colons.
    static func parseHTTPDate(_ text: String) -> Int64? {
        let tokens = text.split { $0 == " " || $0 == "," || $0 == "-" }
        var numbers: [Int] = []
        var month: Int?
        var clock: (Int, Int, Int)?
        for token in tokens {
            if token.contains(":") {
                let parts = token.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 3 else { return nil }
                clock = (parts[0], parts[1], parts[2])
            } else if let number = Int(token) {
                numbers.append(number)
            } else if let index = monthNames.firstIndex(of: token.prefix(3).lowercased()), token.count == 3 {
                month = index + 1
            }
        }
        guard numbers.count == 2, let month, let (hour, minute, second) = clock else { return nil }
        let day = numbers[0]
        var year = numbers[1]
        if year < 100 { year += year < 70 ? 2000 : 1900 }  // RFC 850's two-digit years
        guard (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second)
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
