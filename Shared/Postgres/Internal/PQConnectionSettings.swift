import CLibPQ
import Foundation

/// What every connection of a pool needs to connect, and to explain a failure without secrets.
struct PQConnectionSettings: Sendable {
    /// libpq keyword/value pairs. The URL goes in as `dbname` with `expand_dbname`, so parameters
    /// before it are defaults the URL may override and parameters after it always win.
    let keywords: [String]
    let values: [String]
    /// `CHORUS_DATABASE_URL=postgresql://chorus:***@host/db`: prefixed to connection errors.
    let settingDescription: String
    /// Passwords found in the URL, scrubbed from any libpq message.
    let secrets: [String]

    init(_ configuration: PostgresConfiguration) {
        self.keywords = ["connect_timeout", "application_name", "dbname", "client_encoding"]
        self.values = [
            String(configuration.connectTimeoutSeconds), configuration.applicationName, configuration.url,
            // Cells are decoded as UTF-8, whatever the URL asks for.
            "UTF8",
        ]
        self.settingDescription = "\(configuration.settingName)=\(configuration.redactedURL)"
        self.secrets = ConnectionStringRedaction.secrets(in: configuration.url)
    }

    /// Checks the URL's syntax without connecting.
    ///
    /// - Throws: ``PostgresError/Code/invalidConfiguration`` naming the setting and the problem.
    func validateURL() throws {
        var message: UnsafeMutablePointer<CChar>?
        // PQconninfoParse returns an option array to free with PQconninfoFree, or NULL and a
        // message to free with PQfreemem.
        if let options = PQconninfoParse(self.values[self.urlIndex], &message) {
            defer { PQconninfoFree(options) }
            // The parse accepts any text as a port; libpq rejects it only when connecting.
            var option = options
            while let keyword = option.pointee.keyword {
                if String(cString: keyword) == "port", let value = option.pointee.val {
                    let port = String(cString: value)
                    let ports = port.split(separator: ",", omittingEmptySubsequences: false)
                    guard ports.allSatisfy({ $0.isEmpty || UInt16($0) != nil }) else {
                        throw self.invalidConfiguration("invalid port \"\(port)\"")
                    }
                }
                option += 1
            }
            return
        }
        let reason = message.map { String(cString: $0) } ?? "cannot parse the URL"
        if let message {
            PQfreemem(message)
        }
        throw self.invalidConfiguration(reason)
    }

    private func invalidConfiguration(_ reason: String) -> PostgresError {
        var error = self.connectionFailed(reason)
        error.code = .invalidConfiguration
        return error
    }

    private var urlIndex: Int {
        self.keywords.firstIndex(of: "dbname")!
    }

    /// One line: the setting, the redacted URL, and libpq's reason, e.g.
    /// `CHORUS_DATABASE_URL=postgresql://chorus@127.0.0.1:5999/chorus: Connection refused`.
    func connectionFailed(_ libpqMessage: String) -> PostgresError {
        var reason = PQConnection.firstLine(libpqMessage)
        // libpq starts with `connection to server at "host" (addr), port N failed: `, which the
        // URL already says.
        if reason.hasPrefix("connection to server"), let failed = reason.range(of: " failed: ") {
            reason = String(reason[failed.upperBound...])
        }
        // Server-sent reasons start with their severity: `FATAL:  password authentication failed`.
        for severity in ["FATAL:", "ERROR:"] where reason.hasPrefix(severity) {
            reason = reason.dropFirst(severity.count).trimmingCharacters(in: .whitespaces)
        }
        reason = ConnectionStringRedaction.scrub(reason, secrets: self.secrets)
        return PostgresError(
            code: .connectionFailed,
            message: "\(self.settingDescription): \(reason.isEmpty ? "cannot connect" : reason)")
    }
}
