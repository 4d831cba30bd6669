import CRdKafka
import Testing

@testable import Kafka

@Suite("Configuration, errors and start-up checks (no network)")
struct ConfigurationTests {
    @Test func consumerSettingsKeepAtLeastOnceAndLowLatencyDefaults() {
        let settings = KafkaConsumerConfiguration(groupID: "g", topics: ["t"]).librdkafkaSettings
        #expect(settings["enable.auto.offset.store"] == "false")
        #expect(settings["enable.auto.commit"] == "true")
        #expect(settings["session.timeout.ms"] == "6000")
        #expect(settings["heartbeat.interval.ms"] == "500")
        #expect(settings["fetch.wait.max.ms"] == "1")
        #expect(settings["auto.offset.reset"] == "earliest")
        #expect(settings["socket.nagle.disable"] == "true")
        #expect(settings["log.queue"] == "true")
    }

    @Test func rawSettingsApplyLastRoleOverClient() {
        var configuration = KafkaProducerConfiguration(
            client: KafkaClientConfiguration(rawSettings: ["linger.ms": "7", "acks": "all"]),
            rawSettings: ["linger.ms": "9"])
        configuration.linger = .milliseconds(3)
        let settings = configuration.librdkafkaSettings
        #expect(settings["linger.ms"] == "9")
        #expect(settings["acks"] == "all")
        #expect(settings["enable.idempotence"] == "true")
    }

    @Test func durationsBecomeLibrdkafkaMilliseconds() {
        #expect(Duration.seconds(6).librdkafkaMilliseconds == "6000")
        #expect(Duration.microseconds(1).librdkafkaMilliseconds == "1")  // rounds up, never to "no wait"
        #expect(Duration.zero.librdkafkaMilliseconds == "0")
        #expect(Duration.microseconds(500).librdkafkaMillisecondsString == "0.5")
        #expect(Duration.milliseconds(5).librdkafkaMillisecondsString == "5")
        #expect(Duration.seconds(5).shortDescription == "5s")
        #expect(Duration.milliseconds(250).shortDescription == "250ms")
        #expect(Duration.milliseconds(1500).shortDescription == "1.5s")
    }

    @Test func rejectedSettingNamesTheKey() {
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(rawSettings: ["linger.ms": "soon"]),
                logger: .kafkaTests)
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("linger.ms") == true)
    }

    @Test func rejectedSecretSettingHidesTheValue() {
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(
                configuration: KafkaProducerConfiguration(rawSettings: ["sasl.password.bogus": "hunter2"]),
                logger: .kafkaTests)
        }
        #expect(error?.message.contains("hunter2") == false)
        #expect(error?.message.contains("sasl.password.bogus") == true)
    }

    @Test func loadedLibrdkafkaIsNewEnough() throws {
        try Kafka.checkRuntimeVersion()
        let parts = Kafka.runtimeVersion.split(separator: ".").compactMap { Int($0) }
        #expect(parts.count >= 2)
        #expect(parts[0] > 2 || (parts[0] == 2 && parts[1] >= 2))
    }

    @Test func oldLibrdkafkaFailsWithOneClearLine() {
        let error = #expect(throws: KafkaError.self) {
            try Kafka.checkRuntimeVersion(versionNumber: 0x0200_02ff, versionString: "2.0.2")
        }
        #expect(error?.code == .unsupportedRuntime)
        #expect(
            error?.message
                == "librdkafka 2.0.2 is loaded but Chorus needs >= 2.2; run scripts/setup.sh so .deps/lib/librdkafka.so.1 is found first"
        )
        #expect(throws: Never.self) {
            try Kafka.checkRuntimeVersion(versionNumber: 0x0202_00ff, versionString: "2.2.0")
        }
    }

    @Test func transportProblemsBecomeShortCauses() {
        #expect(
            AdminContext.shortCause(
                "127.0.0.1:9999/bootstrap: Connect to ipv4#127.0.0.1:9999 failed: Connection refused (after 0ms in state CONNECT)")
                == "connection refused")
        #expect(
            AdminContext.shortCause("nohost:9092/bootstrap: Failed to resolve 'nohost:9092': Name or service not known (after 3ms in state CONNECT)")
                == "name or service not known")
    }

    @Test func errorsKnowWhichCodesAreTransient() {
        #expect(KafkaError.isTransient(RD_KAFKA_RESP_ERR__TRANSPORT))
        #expect(!KafkaError.isTransient(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE))
    }
}
