import Foundation
import Logging

/// Well-known metadata keys, so every service names the same thing the same way.
public enum LogKey {
    public static let service = "service"
    public static let requestID = "request.id"
    /// The W3C trace id of the request being handled (see ``MessageContext``).
    public static let traceID = "trace.id"
    public static let kafkaTopic = "kafka.topic"
    public static let kafkaPartition = "kafka.partition"
    public static let kafkaOffset = "kafka.offset"
    public static let model = "model"
    public static let provider = "provider"
    public static let error = "error"
    /// The port a service's `/metrics` listens on, logged once at start.
    public static let metricsPort = "metrics.port"
}

/// How log lines are written: `text` for people, `json` (one object per line) for collectors.
public enum LogFormat: String, Sendable, CaseIterable {
    case text
    case json
}

/// A log handler writing one line per event to standard error, as text or JSON.
///
/// Writes are serialized by a lock and go straight to the file descriptor (no buffering), so lines
/// from concurrent tasks never interleave and nothing is lost when a process is killed.
public struct ChorusLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    /// Metadata of the task logging (``MessageContext/metadataProvider``: request and trace ids).
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat

    public init(label: String, level: Logger.Level, format: LogFormat, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        StandardErrorWriter.write(line(level: event.level, message: event.message.description, metadata: event.metadata))
    }

    /// The line for one event: the handler's metadata, then the task's (``metadataProvider``), then the event's.
    func line(level: Logger.Level, message: String, metadata extra: Logger.Metadata?) -> String {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { _, new in new } }
        if let extra { merged.merge(extra) { _, new in new } }
        let timestamp = Self.timestamp()
        switch format {
        case .text:
            var text = "\(timestamp) \(level) \(label): \(message)"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { text += " \(key)=\(value)" }
            return text + "\n"
        case .json:
            var object = "{\"ts\":\(Self.jsonString(timestamp)),\"level\":\"\(level)\",\"logger\":\(Self.jsonString(label)),\"msg\":\(Self.jsonString(message))"
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                object += ",\(Self.jsonString(key)):\(Self.jsonString(value.description))"
            }
            return object + "}\n"
        }
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
            now.tv_nsec / 1_000_000)
    }

    /// A JSON string literal for `text`.
    public static func jsonString(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Serialized, unbuffered writes to file descriptor 2.
enum StandardErrorWriter {
    private static let lock = NSLock()

    static func write(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
