import Foundation
import Testing

/// A wrong setting stops an executable with one line on standard error that names the setting and
/// the problem (and exit status 1), never a stack dump.
@Suite struct StartupErrorTests {
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) throws -> (status: Int32, stderr: String) {
        let binaries = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(binaries)/\(executable)")
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["CHORUS_HOME"] = PipelineHarness.root
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = Pipe()
        try process.run()
        let data = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func anUnreachableBrokerIsOneLine() throws {
        let (status, stderr) = try Self.run("chorus", ["init"], environment: ["CHORUS_KAFKA_BROKERS": "127.0.0.1:9"])
        #expect(status == 1)
        #expect(stderr == "chorus: error: CHORUS_KAFKA_BROKERS=127.0.0.1:9: no broker answered within 5s (connection refused)\n")
    }

    @Test func aBadDatabaseURLIsOneLineWithoutThePassword() throws {
        let (status, stderr) = try Self.run(
            "chorus", ["migrate"], environment: ["CHORUS_DATABASE_URL": "postgresql://chorus:hunter2@127.0.0.1:9/chorus"])
        #expect(status == 1)
        #expect(stderr.hasPrefix("chorus: error: CHORUS_DATABASE_URL=postgresql://chorus:***@127.0.0.1:9/chorus"))
        #expect(stderr.contains("refused"))
        #expect(!stderr.contains("hunter2"))
        #expect(stderr.filter { $0 == "\n" }.count == 1)
    }

    @Test func aMalformedSettingIsOneLine() throws {
        let (status, stderr) = try Self.run("judge", [], environment: ["CHORUS_LOG_LEVEL": "loud"])
        #expect(status == 1)
        #expect(stderr == "judge: error: CHORUS_LOG_LEVEL: must be one of trace, debug, info, notice, warning, error, critical, got \"loud\"\n")
    }

    @Test func missingModelFilesAreOneLine() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-missing-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "models: {tiny: {local: {gguf: /nonexistent/tiny.gguf}}}\n".write(toFile: "\(directory)/models.yaml", atomically: true, encoding: .utf8)
        let (status, stderr) = try Self.run("gpu-inference", [], environment: ["CHORUS_CATALOG_PATH": "\(directory)/models.yaml"])
        #expect(status == 1)
        #expect(stderr == (
            "gpu-inference: error: models.tiny.local.gguf: /nonexistent/tiny.gguf does not exist, nor does any other local model file; run scripts/setup.sh\n"))
    }
}
