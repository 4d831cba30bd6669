import CRdKafka

/// Facts about the librdkafka library loaded into this process.
///
/// Chorus compiles against Debian's librdkafka 2.0.2 headers but must run with librdkafka >= 2.2:
/// older versions cannot parse the tagged fields of ApiVersions v3 replies that Tansu and KRaft
/// brokers send (librdkafka PR #4278), so every connection fails. `scripts/setup.sh` places a
/// newer build in `.deps/lib`, which the binaries' rpath finds before the system copy.
public enum Kafka {
    /// The version of the librdkafka library loaded at run time, e.g. `"2.16.0"`.
    public static var runtimeVersion: String {
        String(cString: rd_kafka_version_str())
    }

    /// The oldest librdkafka that can talk to the brokers Chorus uses: 2.2.0.
    public static let minimumRuntimeVersion = "2.2.0"

    static let minimumRuntimeVersionNumber = 0x0202_0000

    /// Fails with one clear line when the loaded librdkafka is older than ``minimumRuntimeVersion``.
    ///
    /// Producers, consumers and ``KafkaAdmin`` call this themselves; executables may call it first
    /// to fail before doing anything else.
    public static func checkRuntimeVersion() throws(KafkaError) {
        try checkRuntimeVersion(versionNumber: Int(rd_kafka_version()), versionString: runtimeVersion)
    }

    static func checkRuntimeVersion(versionNumber: Int, versionString: String) throws(KafkaError) {
        guard versionNumber < minimumRuntimeVersionNumber else { return }
        throw KafkaError(
            code: .unsupportedRuntime,
            message: "librdkafka \(versionString) is loaded but Chorus needs >= 2.2; "
                + "run scripts/setup.sh so .deps/lib/librdkafka.so.1 is found first")
    }
}
