import Foundation
import Testing
import Yams

/// compose/: the file validates, and the parts that could silently drift from the code agree with it.
///
/// Runs Debian's `docker-compose` 1.29 (installed by scripts/setup.sh), which validates and resolves a
/// compose file without a Docker engine.
@Suite struct ComposeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let composeFile = "compose/docker-compose.yml"

    @Test func validates() throws {
        let result = try Self.compose(["config", "-q"])
        #expect(result.status == 0, "docker-compose config -q failed: \(result.error)")
    }

    @Test func runsEveryExecutableOfThePackage() throws {
        let services = try Self.resolvedServices()
        let commands = Set(services.values.compactMap { ($0["command"] as? [String])?.first })
        let executables = try Self.executableProducts()
        #expect(!executables.isEmpty)
        for executable in executables {
            #expect(commands.contains(executable), "no compose service runs \(executable)")
        }
        // The one-shot init runs `chorus init`, and every stage waits for it to succeed.
        #expect(services["init"]?["command"] as? [String] == ["chorus", "init"])
        for (name, service) in services where service["image"] as? String == "chorus:latest" && name != "init" {
            let dependsOn = service["depends_on"] as? [String: Any]
            let initCondition = (dependsOn?["init"] as? [String: Any])?["condition"] as? String
            #expect(initCondition == "service_completed_successfully", "\(name) does not wait for init")
        }
    }

    @Test func prometheusScrapesEveryMetricsPort() throws {
        let services = try Self.resolvedServices()
        let scraped = try Self.prometheusTargets()
        var checked = 0
        for (name, service) in services {
            let environment = service["environment"] as? [String: Any] ?? [:]
            // ingest serves /metrics on its HTTP port; the other stages on CHORUS_METRICS_PORT.
            guard let port = (environment["CHORUS_METRICS_PORT"] ?? (name == "ingest" ? environment["CHORUS_HTTP_PORT"] : nil))
                .flatMap({ Int("\($0)") })
            else { continue }
            #expect(scraped[name] == port, "prometheus.yml scrapes \(name) on \(scraped[name].map(String.init) ?? "no port"), compose serves \(port)")
            checked += 1
        }
        #expect(checked == 6, "expected the six services to expose metrics, found \(checked)")
    }

    @Test func kafkaRunsInKRaftModeWithEnoughPartitions() throws {
        let services = try Self.resolvedServices()
        let kafka = try #require(services["kafka"])
        #expect((kafka["image"] as? String)?.hasPrefix("apache/kafka:") == true)
        let environment = kafka["environment"] as? [String: Any] ?? [:]
        let roles = Set(("\(environment["KAFKA_PROCESS_ROLES"] ?? "")").split(separator: ",").map(String.init))
        #expect(roles == ["broker", "controller"])
        #expect(environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] != nil)
        #expect(environment["KAFKA_CONTROLLER_LISTENER_NAMES"] != nil)
        #expect(environment.keys.allSatisfy { !$0.contains("ZOOKEEPER") })
        #expect(!services.keys.contains { $0.contains("zookeeper") })
        // Topics come from `chorus init` with CHORUS_KAFKA_PARTITIONS: at least 3 wherever it is read.
        for (name, service) in services where service["image"] as? String == "chorus:latest" {
            let partitions = ((service["environment"] as? [String: Any])?["CHORUS_KAFKA_PARTITIONS"]).flatMap { Int("\($0)") }
            #expect((partitions ?? 0) >= 3, "\(name): CHORUS_KAFKA_PARTITIONS is \(partitions.map(String.init) ?? "unset")")
        }
    }

    /// Provider keys are interpolated from the caller's environment, never written in the file.
    @Test func providerKeysComeFromTheEnvironment() throws {
        let keys = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN"]
        let sentinel = Dictionary(uniqueKeysWithValues: keys.map { ($0, "sentinel-\($0.lowercased())") })
        let withKeys = try Self.resolvedServices(environment: sentinel)
        let withoutKeys = try Self.resolvedServices(environment: [:])
        let set = withKeys["provider-worker"]?["environment"] as? [String: Any] ?? [:]
        let unset = withoutKeys["provider-worker"]?["environment"] as? [String: Any] ?? [:]
        for key in keys {
            #expect(set[key] as? String == sentinel[key], "\(key) is not taken from the environment")
            #expect((unset[key] as? String ?? "").isEmpty, "\(key) has a value in the compose file")
        }
    }

    /// What compose/Dockerfile copies and builds exists in the repository.
    @Test func dockerfileCopiesWhatExists() throws {
        let dockerfile = try String(contentsOfFile: "\(Self.root)/compose/Dockerfile", encoding: .utf8)
        let copies = dockerfile.split(separator: "\n").filter { $0.hasPrefix("COPY ") && !$0.contains("--from=") }
        #expect(copies.count >= 3)
        for line in copies {
            let words = line.split(separator: " ").dropFirst().map(String.init)
            for source in words.dropLast() where source != "." {
                #expect(FileManager.default.fileExists(atPath: "\(Self.root)/\(source)"), "Dockerfile copies \(source), which is missing")
            }
        }
        // The products staged into the runtime image are exactly the package's executables.
        let loop = try #require(dockerfile.range(of: "for product in ")).upperBound
        let end = try #require(dockerfile[loop...].range(of: "; do")).lowerBound
        let staged = dockerfile[loop..<end].split(separator: " ").map(String.init)
        #expect(Set(staged) == Set(try Self.executableProducts()))
    }

    // MARK: - Helpers

    struct ProcessResult {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs `docker-compose -f compose/docker-compose.yml <arguments>` in the repository root.
    static func compose(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["docker-compose", "-f", composeFile] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        if let environment {
            // A clean environment but for PATH and HOME, so a developer's own keys cannot leak in.
            let inherited = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME"].contains($0.key) }
            process.environment = inherited.merging(environment) { _, new in new }
        }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        do {
            try process.run()
        } catch {
            throw DeploymentTestError("docker-compose cannot be started (\(error)); scripts/setup.sh installs it")
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let result = ProcessResult(
            status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
            error: String(decoding: errorData, as: UTF8.self))
        if result.status == 127 {
            throw DeploymentTestError("docker-compose is not installed; scripts/setup.sh installs it")
        }
        return result
    }

    /// The services as `docker-compose config` resolves them (anchors merged, variables interpolated).
    static func resolvedServices(environment: [String: String] = [:]) throws -> [String: [String: Any]] {
        let result = try compose(["config"], environment: environment)
        guard result.status == 0 else { throw DeploymentTestError("docker-compose config failed: \(result.error)") }
        let document = try Yams.load(yaml: result.output) as? [String: Any]
        guard let services = document?["services"] as? [String: [String: Any]] else {
            throw DeploymentTestError("docker-compose config printed no services")
        }
        return services
    }

    /// Job name → the port its DNS service discovery scrapes, from compose/prometheus.yml.
    static func prometheusTargets() throws -> [String: Int] {
        let text = try String(contentsOfFile: "\(root)/compose/prometheus.yml", encoding: .utf8)
        let document = try Yams.load(yaml: text) as? [String: Any]
        var targets: [String: Int] = [:]
        for job in document?["scrape_configs"] as? [[String: Any]] ?? [] {
            for discovery in job["dns_sd_configs"] as? [[String: Any]] ?? [] {
                guard let port = discovery["port"] as? Int else { continue }
                for name in discovery["names"] as? [String] ?? [] { targets[name] = port }
            }
        }
        return targets
    }

    /// The executable products of Package.swift, less the test-support provider simulator and the
    /// benchmarks (`bench-*`), which are not deployed.
    static func executableProducts() throws -> [String] {
        let manifest = try String(contentsOfFile: "\(root)/Package.swift", encoding: .utf8)
        let pattern = try Regex(#"\.executable\(name: "([^"]+)""#)
        return manifest.matches(of: pattern).compactMap { $0.output[1].substring.map(String.init) }
            .filter { $0 != "provider-simulator" && !$0.hasPrefix("bench-") }
    }
}

struct DeploymentTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
