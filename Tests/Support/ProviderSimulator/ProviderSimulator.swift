import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// An HTTP server speaking the OpenAI chat-completions, Anthropic Messages and Gemini
/// generateContent APIs, standing in for remote LLM providers in end-to-end, chaos and benchmark runs.
///
/// Each upstream model answers after `latency ± jitter` with content derived from the model name and
/// the last user message, unless configured otherwise: per model (``setBehavior(_:for:)``), per
/// request (a queue of ``ScriptStep``s: errors, hangs, malformed bodies, cut streams), or by a custom
/// ``Responder``. The same controls are reachable over HTTP under `/_sim/` (see the README in this
/// folder), and ``stats`` counts what happened.
///
/// Run it as a `Service` in a `ServiceGroup`, or for a test with ``withRunning(configuration:logger:responder:_:)``:
/// ```swift
/// try await ProviderSimulator.withRunning { simulator in
///     let base = "http://127.0.0.1:\(try await simulator.port)"
///     simulator.enqueue([.fail(500), .answer("fine")], for: "gpt-4o-mini")
///     // ... point the code under test at base ...
/// }
/// ```
/// - Important: The simulator never echoes an API key: not in answers, errors or logs.
public final class ProviderSimulator: Service, Sendable {
    /// Answers a request instead of the model's default content; `nil` lets the default answer.
    ///
    /// Called outside any lock for every request that reaches a model (script steps with content,
    /// errors and hangs skip it), so it must be quick and must not block.
    public typealias Responder = @Sendable (SimulatedChatRequest) -> SimulatedReply?

    /// Where the simulator listens and how it answers by default.
    public struct Configuration: Sendable, CustomStringConvertible {
        /// Default `127.0.0.1`.
        public var host: String
        /// Default 0: any free port, read back with ``ProviderSimulator/port``.
        public var port: Int
        /// Time before an answer (before a stream's first byte). Default zero.
        public var latency: Duration
        /// Latency varies uniformly within `latency ± jitter`. Default zero.
        public var jitter: Duration
        /// Pause between stream events. Default zero (a stream is written in one go).
        public var chunkInterval: Duration
        /// The key every request must carry (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`
        /// or `?key=`); `nil` accepts any key or none. Never printed.
        public var apiKey: String?
        /// Seed of the generator behind jitter and injected errors, so runs repeat.
        public var seed: UInt64
        /// Larger request bodies are refused with 413. Default 8 MiB.
        public var maxRequestBodySize: Int
        /// The listen backlog; benchmarks open many connections at once. Default 1024.
        public var backlog: Int

        public init(
            host: String = "127.0.0.1", port: Int = 0, latency: Duration = .zero, jitter: Duration = .zero,
            chunkInterval: Duration = .zero, apiKey: String? = nil, seed: UInt64 = 0x5EED,
            maxRequestBodySize: Int = 8 << 20, backlog: Int = 1024
        ) {
            self.host = host
            self.port = port
            self.latency = latency
            self.jitter = jitter
            self.chunkInterval = chunkInterval
            self.apiKey = apiKey
            self.seed = seed
            self.maxRequestBodySize = maxRequestBodySize
            self.backlog = backlog
        }

        public var description: String {
            "\(host):\(port) latency=\(latency) jitter=\(jitter) chunk_interval=\(chunkInterval) "
                + "api_key=\(apiKey == nil ? "any" : "<redacted>") seed=\(seed)"
        }
    }

    public let configuration: Configuration
    let logger: Logger
    let state: Mutex<SimulatorState>
    private let listening = ListeningPort()

    public init(
        configuration: Configuration = Configuration(), logger: Logger = Logger(label: "provider-simulator"),
        responder: Responder? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(SimulatorState(seed: configuration.seed, responder: responder))
    }

    // MARK: - Running

    /// Listens and answers until cancelled or, inside a `ServiceGroup`, until graceful shutdown.
    ///
    /// Graceful shutdown lets answers in progress finish and releases hanging requests.
    /// - Important: Call it once per simulator.
    public func run() async throws {
        guard listening.claim() else {
            throw ProviderSimulatorError(.alreadyRunning, "run() was called a second time")
        }
        logger.info("provider simulator starting", metadata: ["configuration": "\(configuration)"])
        let application = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), backlog: configuration.backlog),
            onServerRunning: { [listening] channel in
                listening.bound(to: channel.localAddress?.port ?? -1)
            },
            logger: logger)
        do {
            try await application.run()
            listening.stopped(nil)
        } catch {
            listening.stopped(error)
            throw error
        }
    }

    /// The port the simulator listens on, once ``run()`` has bound it.
    ///
    /// - Important: Suspends until `run()` binds (or fails to); throws if the server stopped or failed
    ///   before it listened.
    public var port: Int {
        get async throws { try await listening.port() }
    }

    /// Runs a simulator in a `ServiceGroup` for the duration of `body`, then shuts it down gracefully
    /// (hanging requests are released; after 5 s the rest is cancelled).
    public static func withRunning<Value>(
        configuration: Configuration = Configuration(), logger: Logger = Logger(label: "provider-simulator"),
        responder: Responder? = nil, _ body: (ProviderSimulator) async throws -> Value
    ) async throws -> Value {
        let simulator = ProviderSimulator(configuration: configuration, logger: logger, responder: responder)
        var groupConfiguration = ServiceGroupConfiguration(services: [simulator], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                _ = try await simulator.port
                let value = try await body(simulator)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return value
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
        }
    }

    // MARK: - Control

    /// Sets how `model` answers when no script step applies; `nil` restores the defaults.
    public func setBehavior(_ behavior: ModelBehavior?, for model: String) {
        state.withLock { $0.setBehavior(behavior, for: model) }
    }

    /// Appends one-shot steps to `model`'s script; returns how many steps are now queued.
    @discardableResult
    public func enqueue(_ steps: [ScriptStep], for model: String) -> Int {
        state.withLock { $0.enqueue(steps, for: model) }
    }

    /// Drops the steps of `model` not yet consumed.
    public func clearScript(for model: String) {
        state.withLock { $0.clearScript(for: model) }
    }

    /// Replaces the custom responder (`nil` removes it).
    public func setResponder(_ responder: Responder?) {
        state.withLock { $0.setResponder(responder) }
    }

    /// The counters since the start or the last reset.
    public var stats: SimulatorStats {
        state.withLock { $0.stats }
    }

    /// Zeroes the counters (the peak restarts from the requests in flight now).
    public func resetStats() {
        state.withLock { $0.resetStats() }
    }

    /// Forgets model behaviours, scripts and counters; the responder stays.
    public func reset() {
        state.withLock { $0.reset() }
    }
}
