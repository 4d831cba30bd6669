import ArgumentParser
import ChorusRuntime
import ProviderSimulator

/// `provider-simulator`: the simulator as a process, for benchmarks and manual runs.
///
/// Runs until SIGTERM or SIGINT. The expected API key comes from `CHORUS_SIMULATOR_API_KEY` (or the
/// file named by `CHORUS_SIMULATOR_API_KEY_FILE`), never from the command line, where `ps` would show
/// it; logging follows `CHORUS_LOG_LEVEL` / `CHORUS_LOG_FORMAT` like every Chorus executable.
@main
struct ProviderSimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider-simulator",
        abstract: "Serve simulated OpenAI, Anthropic and Gemini chat APIs.")

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 8090

    @Option(help: "Time before each answer, e.g. 100ms, 1.5s. (default: 0)", transform: Self.duration)
    var latency: Duration = .zero

    @Option(help: "Latency varies uniformly within latency ± jitter. (default: 0)", transform: Self.duration)
    var jitter: Duration = .zero

    @Option(name: .customLong("chunk-interval"), help: "Pause between stream events. (default: 0)", transform: Self.duration)
    var chunkInterval: Duration = .zero

    @Option(help: "Seed for jitter and injected errors.")
    var seed: UInt64 = 0x5EED

    func run() async throws {
        let settings = self
        await ServiceMain.run(name: "provider-simulator") { reader, logger in
            let apiKey = try reader.secret(environment: "CHORUS_SIMULATOR_API_KEY")
            let configuration = ProviderSimulator.Configuration(
                host: settings.host, port: settings.port, latency: settings.latency, jitter: settings.jitter,
                chunkInterval: settings.chunkInterval, apiKey: apiKey?.exposed, seed: settings.seed)
            return [ProviderSimulator(configuration: configuration, logger: logger)]
        }
    }

    private static func duration(_ text: String) throws -> Duration {
        guard let duration = Duration.parse(text) else {
            throw ValidationError("'\(text)' is not a duration (e.g. 100ms, 1.5s, 2m)")
        }
        return duration
    }
}
