import Foundation
import Yams

/// Reads Chorus settings from one YAML file plus `CHORUS_*` environment overrides.
///
/// A setting has a dotted path in the file (`kafka.brokers`) and an environment variable derived
/// from it (`CHORUS_KAFKA_BROKERS`). The environment wins over the file, the file over the default.
/// Every failure names the setting as the user wrote it (the variable or `file: key`), so one line
/// tells them what to fix.
public struct ConfigurationReader: Sendable {
    /// The folder relative paths in settings are resolved against (`CHORUS_HOME`, else the working directory).
    public let home: String
    /// The file the settings were read from, if any.
    public let file: String?
    private let root: ConfigValue
    private let environment: [String: String]

    /// Loads `path` (or `$CHORUS_CONFIG`, or `<home>/config/chorus.yaml` when it exists).
    public init(path: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let home = environment["CHORUS_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.currentDirectoryPath
        self.home = home
        self.environment = environment
        let explicit = path ?? environment["CHORUS_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let candidate = explicit.map { Self.resolve($0, against: home) } ?? "\(home)/config/chorus.yaml"
        guard FileManager.default.fileExists(atPath: candidate) else {
            if let explicit {
                throw ConfigurationError(setting: "CHORUS_CONFIG", problem: "file \(explicit) does not exist")
            }
            self.file = nil
            self.root = .mapping([:])
            return
        }
        let text: String
        do {
            text = try String(contentsOfFile: candidate, encoding: .utf8)
        } catch {
            throw ConfigurationError(setting: candidate, problem: "cannot be read (\(error.localizedDescription))")
        }
        self.file = candidate
        self.root = try Self.parse(text, file: candidate)
    }

    /// A reader over YAML text; `label` names it in errors (a file path, or `<yaml>`).
    public init(yaml: String, label: String = "<yaml>", home: String = "/", environment: [String: String] = [:]) throws {
        self.home = home
        self.file = label
        self.environment = environment
        self.root = try Self.parse(yaml, file: label)
    }

    // MARK: - Typed settings

    /// A string setting; `nil` only when absent everywhere and no default is given.
    public func string(_ path: String) throws -> String? {
        if let value = environment[Self.environmentName(path)] { return value }
        switch lookup(path) {
        case nil, .null?: return nil
        case .scalar(let s)?: return s
        case .sequence?, .mapping?: throw error(path, "must be a single value, not a list or mapping")
        }
    }

    public func string(_ path: String, default fallback: String) throws -> String {
        try string(path) ?? fallback
    }

    public func int(_ path: String, default fallback: Int, range: ClosedRange<Int>? = nil) throws -> Int {
        guard let raw = try string(path) else { return fallback }
        guard let value = Int(raw.trimmingCharacters(in: .whitespaces)) else {
            throw error(path, "must be a whole number, got \(Self.quoted(raw))")
        }
        if let range, !range.contains(value) {
            throw error(path, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    public func bool(_ path: String, default fallback: Bool) throws -> Bool {
        guard let raw = try string(path) else { return fallback }
        switch raw.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw error(path, "must be true or false, got \(Self.quoted(raw))")
        }
    }

    /// A duration written as `250ms`, `5s`, `2m`, `1h` (a bare number means seconds).
    public func duration(_ path: String, default fallback: Duration) throws -> Duration {
        guard let raw = try string(path) else { return fallback }
        guard let value = Duration.parse(raw) else {
            throw error(path, "must be a duration such as 250ms, 5s or 2m, got \(Self.quoted(raw))")
        }
        return value
    }

    /// One of a fixed set of words.
    public func choice(_ path: String, default fallback: String, allowed: [String]) throws -> String {
        let value = try string(path, default: fallback)
        guard allowed.contains(value) else {
            throw error(path, "must be one of \(allowed.joined(separator: ", ")), got \(Self.quoted(value))")
        }
        return value
    }

    /// A file path, resolved against ``home`` when relative.
    public func path(_ path: String, default fallback: String) throws -> String {
        Self.resolve(try string(path, default: fallback), against: home)
    }

    /// A secret: read from the variable itself, or from the file named by `<VARIABLE>_FILE`.
    ///
    /// Secrets are never read from the YAML file, which tends to be committed.
    public func secret(environment name: String) throws -> Secret? {
        if let value = environment[name], !value.isEmpty { return Secret(value) }
        if let file = environment["\(name)_FILE"], !file.isEmpty {
            let resolved = Self.resolve(file, against: home)
            guard let contents = FileManager.default.contents(atPath: resolved),
                  let text = String(data: contents, encoding: .utf8)
            else {
                throw ConfigurationError(setting: "\(name)_FILE", problem: "file \(file) cannot be read")
            }
            return Secret(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return nil
    }

    /// A mapping of plain string values (e.g. raw librdkafka settings); file only.
    public func stringMap(_ path: String) throws -> [String: String] {
        switch lookup(path) {
        case nil, .null?: return [:]
        case .mapping(let pairs)?:
            var result: [String: String] = [:]
            for (key, value) in pairs {
                guard case .scalar(let s) = value else { throw error("\(path).\(key)", "must be a single value") }
                result[key] = s
            }
            return result
        default: throw error(path, "must be a mapping of names to values")
        }
    }

    /// The raw value at `path` in the file (for structured sections such as a model catalog).
    public func value(_ path: String) -> ConfigValue? { lookup(path) }

    // MARK: - Names

    /// `kafka.brokers` → `CHORUS_KAFKA_BROKERS`.
    public static func environmentName(_ path: String) -> String {
        "CHORUS_" + path.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 }.reduce(into: "") { $0.append($1) }
    }

    /// How a setting is named in an error: the variable when it is set, else the file key.
    public func settingName(_ path: String) -> String {
        let variable = Self.environmentName(path)
        if environment[variable] != nil { return variable }
        if let file, lookup(path) != nil { return "\(file): \(path)" }
        return variable
    }

    public func error(_ path: String, _ problem: String) -> ConfigurationError {
        ConfigurationError(setting: settingName(path), problem: problem)
    }

    // MARK: - Internals

    private func lookup(_ path: String) -> ConfigValue? {
        var node = root
        for key in path.split(separator: ".") {
            guard case .mapping(let pairs) = node, let next = pairs[String(key)] else { return nil }
            node = next
        }
        return node
    }

    static func resolve(_ path: String, against home: String) -> String {
        path.hasPrefix("/") ? path : "\(home)/\(path)"
    }

    static func quoted(_ raw: String) -> String {
        "\"\(raw.prefix(80))\""
    }

    private static func parse(_ text: String, file: String) throws -> ConfigValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigurationError(setting: file, problem: "is not valid YAML (\(error))")
        }
        guard let node else { return .mapping([:]) }
        let value = ConfigValue(node)
        guard case .mapping = value else {
            throw ConfigurationError(setting: file, problem: "must be a mapping of sections at the top level")
        }
        return value
    }
}

/// A setting that cannot be used: names the setting and the problem, in one line.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var setting: String
    public var problem: String

    public init(setting: String, problem: String) {
        self.setting = setting
        self.problem = problem
    }

    public var description: String { "\(setting): \(problem)" }
}

/// A parsed YAML value: strings all the way down, so typed getters decide how to read them.
public enum ConfigValue: Sendable, Equatable {
    case null
    case scalar(String)
    case sequence([ConfigValue])
    case mapping([String: ConfigValue])

    init(_ node: Node) {
        switch node {
        case .scalar(let scalar):
            let isNull = scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
            self = isNull ? .null : .scalar(scalar.string)
        case .sequence(let sequence):
            self = .sequence(sequence.map(ConfigValue.init))
        case .mapping(let mapping):
            var pairs: [String: ConfigValue] = [:]
            for (key, value) in mapping { pairs[key.string ?? "\(key)"] = ConfigValue(value) }
            self = .mapping(pairs)
        case .alias:
            self = .null
        }
    }

    /// The scalar text, if this is a scalar.
    public var string: String? {
        if case .scalar(let s) = self { return s }
        return nil
    }
}
