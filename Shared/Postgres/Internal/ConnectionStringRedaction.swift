import Foundation

/// Finds and hides passwords in libpq connection strings, in both of libpq's syntaxes.
///
/// URL form: `postgresql://user:PASSWORD@host/db?password=PASSWORD`. Key/value form:
/// `host=h password=PASSWORD` or `password='PASS WORD'`. The scanning follows libpq's own parser
/// (fe-connect.c, `conninfo_uri_parse_options` and `conninfo_parse`) so that what libpq reads as the
/// password is exactly what gets hidden.
enum ConnectionStringRedaction {
    static let mask = "***"

    /// The connection string with every password replaced by `***`.
    static func redact(_ conninfo: String) -> String {
        var result = conninfo
        for range in passwordRanges(in: conninfo).reversed() {
            result.replaceSubrange(range, with: mask)
        }
        return result
    }

    /// The passwords in the connection string, raw and percent-decoded, for scrubbing error texts.
    static func secrets(in conninfo: String) -> [String] {
        var secrets: [String] = []
        for range in passwordRanges(in: conninfo) {
            let raw = String(conninfo[range])
            guard !raw.isEmpty else { continue }
            secrets.append(raw)
            if let decoded = raw.removingPercentEncoding, decoded != raw, !decoded.isEmpty {
                secrets.append(decoded)
            }
        }
        return secrets
    }

    /// `text` with every secret replaced by `***`.
    static func scrub(_ text: String, secrets: [String]) -> String {
        var text = text
        for secret in secrets where text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: mask)
        }
        return text
    }

    // MARK: - Scanning

    private static func passwordRanges(in conninfo: String) -> [Range<String.Index>] {
        for scheme in ["postgresql://", "postgres://"] where conninfo.hasPrefix(scheme) {
            let afterScheme = conninfo.index(conninfo.startIndex, offsetBy: scheme.count)
            return urlPasswordRanges(in: conninfo, afterScheme: afterScheme)
        }
        return keyValuePasswordRanges(in: conninfo)
    }

    private static func urlPasswordRanges(in url: String, afterScheme start: String.Index) -> [Range<String.Index>] {
        var ranges: [Range<String.Index>] = []
        // libpq looks for user credentials up to the first '@' or '/'.
        if let stop = url[start...].firstIndex(where: { $0 == "@" || $0 == "/" }), url[stop] == "@",
            let colon = url[start..<stop].firstIndex(of: ":")
        {
            ranges.append(url.index(after: colon)..<stop)
        }
        // Query parameters: `password=...` up to the next '&'.
        if let question = url[start...].firstIndex(of: "?") {
            var position = url.index(after: question)
            while position < url.endIndex {
                let end = url[position...].firstIndex(of: "&") ?? url.endIndex
                let parameter = url[position..<end]
                if let equals = parameter.firstIndex(of: "="),
                    parameter[parameter.startIndex..<equals] == "password"
                {
                    ranges.append(url.index(after: equals)..<end)
                }
                position = end < url.endIndex ? url.index(after: end) : end
            }
        }
        return ranges.sorted { $0.lowerBound < $1.lowerBound }
    }

    private static func keyValuePasswordRanges(in conninfo: String) -> [Range<String.Index>] {
        var ranges: [Range<String.Index>] = []
        var position = conninfo.startIndex
        func skipSpaces() {
            while position < conninfo.endIndex, conninfo[position].isWhitespace {
                position = conninfo.index(after: position)
            }
        }
        while true {
            skipSpaces()
            guard position < conninfo.endIndex else { break }
            let keyStart = position
            while position < conninfo.endIndex, conninfo[position] != "=", !conninfo[position].isWhitespace {
                position = conninfo.index(after: position)
            }
            let key = conninfo[keyStart..<position]
            skipSpaces()
            guard position < conninfo.endIndex, conninfo[position] == "=" else { break }
            position = conninfo.index(after: position)
            skipSpaces()
            let valueStart: String.Index
            let valueEnd: String.Index
            if position < conninfo.endIndex, conninfo[position] == "'" {
                position = conninfo.index(after: position)
                valueStart = position
                while position < conninfo.endIndex, conninfo[position] != "'" {
                    if conninfo[position] == "\\" {
                        position = conninfo.index(after: position)
                        guard position < conninfo.endIndex else { break }
                    }
                    position = conninfo.index(after: position)
                }
                valueEnd = position
                if position < conninfo.endIndex { position = conninfo.index(after: position) }
            } else {
                valueStart = position
                while position < conninfo.endIndex, !conninfo[position].isWhitespace {
                    position = conninfo.index(after: position)
                }
                valueEnd = position
            }
            if key == "password" {
                ranges.append(valueStart..<valueEnd)
            }
        }
        return ranges
    }
}
