import Foundation

/// Where the Kafka brokers are and how Chorus talks to them.
public struct KafkaSettings: Sendable {
    /// `kafka.brokers` / `CHORUS_KAFKA_BROKERS`: comma-separated host:port list. Default `127.0.0.1:9092`.
    public var brokers: String
    /// How errors name the broker setting (`CHORUS_KAFKA_BROKERS` or the file key).
    public var brokersSettingName: String
    /// `kafka.partitions` / `CHORUS_KAFKA_PARTITIONS`: partitions of the topics Chorus creates. Default 4.
    public var partitions: Int
    /// `kafka.replication_factor` / `CHORUS_KAFKA_REPLICATION_FACTOR`: for the topics Chorus creates. Default 1.
    public var replicationFactor: Int
    /// `kafka.settings`: raw librdkafka settings applied last, for what Chorus does not expose (TLS, SASL...).
    public var rawSettings: [String: String]

    public init(reader: ConfigurationReader) throws {
        brokers = try reader.string("kafka.brokers", default: "127.0.0.1:9092")
        brokersSettingName = reader.settingName("kafka.brokers")
        guard !brokers.trimmingCharacters(in: .whitespaces).isEmpty,
              brokers.split(separator: ",").allSatisfy({ $0.contains(":") })
        else {
            throw reader.error("kafka.brokers", "must be a comma-separated list of host:port, got \"\(brokers)\"")
        }
        partitions = try reader.int("kafka.partitions", default: 4, range: 1...1024)
        replicationFactor = try reader.int("kafka.replication_factor", default: 1, range: 1...16)
        rawSettings = try reader.stringMap("kafka.settings")
    }
}

/// Where PostgreSQL is.
public struct DatabaseSettings: Sendable {
    /// `database.url` / `CHORUS_DATABASE_URL`: a libpq URL. Default `postgresql://chorus@127.0.0.1:5433/chorus`.
    ///
    /// - Important: prefer a password file to a password in the URL; the URL is printed (redacted) in errors.
    public var url: String
    /// How errors name the URL setting.
    public var urlSettingName: String
    /// `database.password_file` / `CHORUS_DATABASE_PASSWORD_FILE`: a libpq passfile, used when it exists.
    /// Default `.data/secrets/pgpass` (written by the embedded stack).
    public var passwordFile: String?
    /// `database.pool_size` / `CHORUS_DATABASE_POOL_SIZE`: connections per process. Default 4.
    public var poolSize: Int

    public init(reader: ConfigurationReader) throws {
        url = try reader.string("database.url", default: "postgresql://chorus@127.0.0.1:5433/chorus")
        urlSettingName = reader.settingName("database.url")
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
            throw reader.error("database.url", "must be a postgresql:// URL, got \"\(Self.redacted(url))\"")
        }
        let file = try reader.path("database.password_file", default: ".data/secrets/pgpass")
        passwordFile = FileManager.default.fileExists(atPath: file) ? file : nil
        poolSize = try reader.int("database.pool_size", default: 4, range: 1...256)
    }

    /// The URL libpq connects with: ``url`` plus `passfile=` when a password file is in use.
    public var connectionURL: String {
        guard let passwordFile, !url.contains("passfile=") else { return url }
        return url + (url.contains("?") ? "&" : "?") + "passfile=" + passwordFile
    }

    /// `url` with any password replaced by `***`, safe to print.
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let userInfo = url[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}
