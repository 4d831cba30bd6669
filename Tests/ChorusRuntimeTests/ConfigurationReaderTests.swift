import Foundation
import Testing

@testable import ChorusRuntime

@Suite struct ConfigurationReaderTests {
    let yaml = """
        kafka:
          brokers: 10.0.0.1:9092,10.0.0.2:9092
          partitions: 8
          settings:
            security.protocol: SSL
        database:
          pool_size: nope
        judge:
          deadline: 1500ms
          missing: ~
        """

    @Test func fileValuesAreRead() throws {
        let reader = try ConfigurationReader(yaml: yaml)
        let kafka = try KafkaSettings(reader: reader)
        #expect(kafka.brokers == "10.0.0.1:9092,10.0.0.2:9092")
        #expect(kafka.partitions == 8)
        #expect(kafka.rawSettings == ["security.protocol": "SSL"])
        #expect(try reader.duration("judge.deadline", default: .seconds(1)) == .milliseconds(1500))
        #expect(try reader.string("judge.missing") == nil)
    }

    @Test func stagesOffTheCriticalPathPollLessButNeverMoreOftenThanTheDefault() throws {
        let plain = try ConfigurationReader(yaml: "kafka: {fetch_wait: 2ms}")
        let kafka = try KafkaSettings(reader: plain)
        #expect(try kafka.fetchWait(plain) == .milliseconds(2))
        #expect(try kafka.fetchWait(plain, stage: "judge") == .milliseconds(2))
        #expect(try kafka.fetchWait(plain, stage: "billing") == .milliseconds(100))
        #expect(try kafka.fetchWait(plain, stage: "gpu-inference") == .milliseconds(5))
        // A slower default (real Kafka answers early) is not undercut by a stage default.
        let slow = try ConfigurationReader(yaml: "kafka: {fetch_wait: 250ms, fetch_waits: {judge: 3ms}}")
        #expect(try kafka.fetchWait(slow, stage: "gpu-inference") == .milliseconds(250))
        #expect(try kafka.fetchWait(slow, stage: "judge") == .milliseconds(3))
        let environment = try ConfigurationReader(yaml: "kafka: {}", environment: ["CHORUS_KAFKA_FETCH_WAITS_GPU_INFERENCE": "20ms"])
        #expect(try kafka.fetchWait(environment, stage: "gpu-inference") == .milliseconds(20))
        let bad = try ConfigurationReader(yaml: "kafka: {fetch_waits: {billing: soon}}")
        #expect(throws: ConfigurationError.self) { try kafka.fetchWait(bad, stage: "billing") }
    }

    @Test func environmentOverridesFileAndDefaults() throws {
        let reader = try ConfigurationReader(
            yaml: yaml, environment: ["CHORUS_KAFKA_BROKERS": "127.0.0.1:19092", "CHORUS_JUDGE_DEADLINE": "2s"])
        #expect(try KafkaSettings(reader: reader).brokers == "127.0.0.1:19092")
        #expect(try reader.duration("judge.deadline", default: .zero) == .seconds(2))
        #expect(try reader.int("not.there", default: 7) == 7)
    }

    @Test func errorsNameTheFileKeyOrTheVariable() throws {
        let reader = try ConfigurationReader(yaml: yaml, environment: ["CHORUS_LOG_LEVEL": "loud"])
        let poolError = #expect(throws: ConfigurationError.self) { try DatabaseSettings(reader: reader) }
        #expect(poolError?.description == "<yaml>: database.pool_size: must be a whole number, got \"nope\"")
        let levelError = #expect(throws: ConfigurationError.self) { try RuntimeSettings(reader: reader) }
        #expect(levelError?.setting == "CHORUS_LOG_LEVEL")
        #expect(levelError?.problem.contains("loud") == true)
    }

    @Test func badBrokerListIsRejectedWithTheSettingName() throws {
        let reader = try ConfigurationReader(yaml: "", environment: ["CHORUS_KAFKA_BROKERS": "localhost"])
        let error = #expect(throws: ConfigurationError.self) { try KafkaSettings(reader: reader) }
        #expect(error?.description == "CHORUS_KAFKA_BROKERS: must be a comma-separated list of host:port, got \"localhost\"")
    }

    @Test func databaseURLIsValidatedAndRedacted() throws {
        let reader = try ConfigurationReader(
            yaml: "", environment: ["CHORUS_DATABASE_URL": "mysql://root:hunter2@db/chorus"])
        let error = #expect(throws: ConfigurationError.self) { try DatabaseSettings(reader: reader) }
        #expect(error?.setting == "CHORUS_DATABASE_URL")
        #expect(error?.description.contains("hunter2") == false)
        #expect(DatabaseSettings.redacted("postgresql://u:p%40ss@h:5432/d") == "postgresql://u:***@h:5432/d")
        #expect(DatabaseSettings.redacted("postgresql://u@h/d") == "postgresql://u@h/d")
    }

    @Test func invalidYAMLNamesTheFile() {
        let error = #expect(throws: ConfigurationError.self) { try ConfigurationReader(yaml: "a: [unclosed") }
        #expect(error?.setting == "<yaml>")
    }

    @Test func missingExplicitConfigFileIsAnError() {
        let error = #expect(throws: ConfigurationError.self) {
            try ConfigurationReader(environment: ["CHORUS_CONFIG": "/nonexistent/chorus.yaml"])
        }
        #expect(error?.setting == "CHORUS_CONFIG")
    }

    @Test func secretsComeFromTheEnvironmentOrAFileAndNeverPrint() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-secret-\(UUID())").path
        try "sk-from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let reader = try ConfigurationReader(
            yaml: "", environment: ["A_KEY": "sk-direct", "B_KEY_FILE": file])
        let a = try #require(try reader.secret(environment: "A_KEY"))
        let b = try #require(try reader.secret(environment: "B_KEY"))
        #expect(a.exposed == "sk-direct")
        #expect(b.exposed == "sk-from-file")
        #expect("\(a) \(String(describing: b)) \(String(reflecting: a))" == "<redacted> <redacted> <redacted>")
        #expect(try reader.secret(environment: "C_KEY") == nil)
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("5s", .seconds(5)), ("1.5s", .milliseconds(1500)),
        ("2m", .seconds(120)), ("1h", .seconds(3600)), ("3", .seconds(3)), ("100us", .microseconds(100)),
    ])
    func durationsParse(text: String, expected: Duration) {
        #expect(Duration.parse(text) == expected)
    }

    @Test(arguments: ["", "fast", "-1s", "5 parsecs", "nan"])
    func badDurationsDoNotParse(text: String) {
        #expect(Duration.parse(text) == nil)
    }

    @Test func environmentNames() {
        #expect(ConfigurationReader.environmentName("kafka.brokers") == "CHORUS_KAFKA_BROKERS")
        #expect(ConfigurationReader.environmentName("provider-worker.max_in_flight") == "CHORUS_PROVIDER_WORKER_MAX_IN_FLIGHT")
    }
}

@Suite struct LogHandlerTests {
    @Test func jsonStringsAreEscaped() {
        #expect(ChorusLogHandler.jsonString("a\"b\\c\nd\u{01}é") == "\"a\\\"b\\\\c\\nd\\u0001é\"")
    }

    @Test func timestampsAreRFC3339UTCWithMilliseconds() {
        let ts = ChorusLogHandler.timestamp()
        #expect(ts.count == 24)
        #expect(ts.hasSuffix("Z"))
        #expect(ts.dropFirst(10).first == "T")
    }
}

@Suite struct ByteSizeSettingTests {
    @Test func sizesReadInDecimalAndBinaryUnits() throws {
        let reader = try ConfigurationReader(
            yaml: "a: 512MB\nb: 4GiB\nc: 800k\nd: 1234\ne: none\nf: 0\n", environment: ["CHORUS_G": "2 mib"])
        #expect(try reader.byteSize("a", default: nil) == 512_000_000)
        #expect(try reader.byteSize("b", default: nil) == 4 << 30)
        #expect(try reader.byteSize("c", default: nil) == 800_000)
        #expect(try reader.byteSize("d", default: nil) == 1234)
        #expect(try reader.byteSize("e", default: 7) == nil)
        #expect(try reader.byteSize("f", default: 7) == nil)
        #expect(try reader.byteSize("g", default: nil) == 2 << 20)
        #expect(try reader.byteSize("absent", default: 7) == 7)
    }

    @Test func aBadSizeNamesTheSettingAndTheValue() throws {
        let reader = try ConfigurationReader(yaml: "gpu_inference:\n  memory_budget: lots\n  other: 9999999999999TiB\n")
        let error = try #require(throws: ConfigurationError.self) { try reader.byteSize("gpu_inference.memory_budget", default: nil) }
        #expect("\(error)".contains("memory_budget") && "\(error)".contains("lots"))
        #expect(throws: ConfigurationError.self) { try reader.byteSize("gpu_inference.other", default: nil) }
    }
}
