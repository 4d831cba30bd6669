/// How to reach PostgreSQL and how many connections to keep open.
///
/// Values given inside the URL (`?connect_timeout=`, `?application_name=`) take precedence over the
/// fields of the same meaning here, as libpq applies the URL last.
public struct PostgresConfiguration: Sendable, CustomStringConvertible {
    /// The libpq connection string: a `postgresql://` URL or `key=value` pairs.
    ///
    /// Any libpq parameter works, e.g. `?passfile=/path/pgpass`, `?sslmode=require`, or
    /// `?options=-c%20search_path%3Dbilling`.
    ///
    /// - Important: A secret when it holds a password. Prefer `passfile=` to an inline password;
    ///   ``description`` and every error print the URL with the password replaced by `***`.
    public var url: String

    /// The setting the URL came from (e.g. `CHORUS_DATABASE_URL`), named in connection errors.
    ///
    /// Default `CHORUS_DATABASE_URL`.
    public var settingName: String

    /// The number of connections, each owned by one dedicated thread. Default 4.
    public var poolSize: Int

    /// How long one connection attempt may take (libpq `connect_timeout`). Default 10 seconds.
    ///
    /// libpq counts whole seconds (this is rounded up) and waits at least 2 seconds.
    public var connectTimeout: Duration

    /// The name shown in `pg_stat_activity.application_name`. Default `chorus`.
    public var applicationName: String

    /// Creates a configuration; nothing connects until the pool runs or is first used.
    public init(
        url: String,
        settingName: String = "CHORUS_DATABASE_URL",
        poolSize: Int = 4,
        connectTimeout: Duration = .seconds(10),
        applicationName: String = "chorus"
    ) {
        self.url = url
        self.settingName = settingName
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.applicationName = applicationName
    }

    /// ``url`` with any password replaced by `***`: safe to log.
    public var redactedURL: String {
        ConnectionStringRedaction.redact(self.url)
    }

    public var description: String {
        "PostgresConfiguration(\(self.settingName)=\(self.redactedURL), poolSize: \(self.poolSize), "
            + "connectTimeout: \(self.connectTimeout), applicationName: \(self.applicationName))"
    }

    /// `connectTimeout` as libpq wants it: whole seconds, rounded up, at least 1.
    var connectTimeoutSeconds: Int {
        let (seconds, attoseconds) = self.connectTimeout.components
        return max(1, Int(seconds) + (attoseconds > 0 ? 1 : 0))
    }
}
