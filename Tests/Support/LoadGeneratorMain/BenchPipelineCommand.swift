import ArgumentParser
import Foundation
import HTTP
import Kafka
import LoadGenerator
import Logging
import Synchronization

/// `bench-pipeline`: an open-loop load generator for `make bench` (scripts/bench-pipeline.sh).
///
/// Sends requests on a fixed schedule whatever the answers do, measures each from its due time to its
/// answer, prints one JSON summary line on stdout and writes one record per request
/// (`id<TAB>e2e_ms<TAB>model_ms`, empty fields for unknown) to `--records`.
@main
struct BenchPipelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-pipeline",
        abstract: "Open-loop load against an OpenAI-compatible HTTP endpoint or Chorus's requests topic.",
        subcommands: [HTTPLoad.self, KafkaLoad.self])

    /// Warnings and errors on stderr: stdout carries only the summary line.
    static func bootstrapLogging() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
    }
}

/// Options every load shares.
struct LoadOptions: ParsableArguments {
    @Option(help: "Requests per second.")
    var rate: Double

    @Option(help: "How long to send, e.g. 10s.", transform: LoadOptions.duration)
    var duration: Duration = .seconds(10)

    @Option(name: .customLong("max-requests"), help: "Send at most this many requests.")
    var maxRequests = 1_000_000

    @Option(name: .customLong("drain-timeout"), help: "After the last send, wait at most this long for answers.", transform: LoadOptions.duration)
    var drainTimeout: Duration = .seconds(30)

    @Option(help: "A label for the summary line.")
    var label = "run"

    @Option(help: "Where to write one line per request: id, e2e ms, model ms (tab-separated).")
    var records: String?

    @Option(name: .customLong("max-tokens"), help: "max_tokens of each request.")
    var maxTokens = 16

    static func duration(_ text: String) throws -> Duration {
        let units: [(String, Double)] = [("ms", 1e-3), ("s", 1), ("m", 60)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)) { return .nanoseconds(Int64(value * scale * 1e9)) }
        }
        throw ValidationError("'\(text)' is not a duration (e.g. 500ms, 10s, 1m)")
    }

    var schedule: ArrivalSchedule { ArrivalSchedule(rate: rate, duration: duration, maxRequests: maxRequests) }
}

// MARK: - HTTP

struct HTTPLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http", abstract: "POST chat completions to an OpenAI-compatible endpoint (the key comes from BENCH_API_KEY).")

    @Option(help: "The chat completions URL.")
    var url: String

    @Option(help: "The model field of each request.")
    var model: String

    @OptionGroup var load: LoadOptions

    func run() async throws {
        BenchPipelineCommand.bootstrapLogging()
        let key = ProcessInfo.processInfo.environment["BENCH_API_KEY"] ?? "bench"
        let client = HTTPClient(configuration: {
            var configuration = HTTPClient.Configuration()
            configuration.maxCachedConnections = 4096
            configuration.requestTimeout = .seconds(60)
            return configuration
        }())
        let headers: HTTPHeaders = ["Authorization": "Bearer \(key)", "Content-Type": "application/json"]
        let model = self.model, url = self.url, maxTokens = load.maxTokens
        let run = try await OpenLoop.run(load) { index in
            let body = #"{"model":"\#(model)","max_tokens":\#(maxTokens),"messages":[{"role":"user","content":"What is the capital of France? (\#(index))"}]}"#
            let response = try await client.execute(HTTPRequest(method: .post, url: url, headers: headers, body: Array(body.utf8)))
            guard response.status == 200 else {
                throw LoadError("HTTP \(response.status): \(String(decoding: response.body.prefix(200), as: UTF8.self))")
            }
            // Chorus answers with id `chatcmpl-<request id>`; the trail is keyed by the request id.
            let id = (try? JSONDecoder().decode(CompletionID.self, from: Data(response.body)))?.id ?? ""
            let elapsed = response.headers["x-simulator-elapsed-ms"] ?? response.headers["llm_provider-x-simulator-elapsed-ms"]
            return OpenLoop.Answer(
                id: id.hasPrefix("chatcmpl-req-") ? String(id.dropFirst("chatcmpl-".count)) : id,
                modelMilliseconds: elapsed.flatMap(Double.init), answeredAt: .now)
        } onGiveUp: {}
        await client.shutdown()
        try run.report(load)
    }

    struct CompletionID: Decodable { var id: String }
}

// MARK: - Kafka

struct KafkaLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka", abstract: "Publish requests on <namespace>.requests, match answers on <namespace>.answers by key.")

    @Option(help: "Bootstrap brokers.")
    var brokers = "127.0.0.1:9092"

    @Option(help: "The topic namespace (CHORUS_KAFKA_NAMESPACE of the pipeline).")
    var namespace: String

    @Option(help: "The project of every request.")
    var project: String

    @Option(help: "Pool model ids, comma-separated.")
    var pool: String

    @Option(help: "The judge model id (none for a single model).")
    var judge: String?

    @Option(help: "Fusion mode.")
    var mode = "best-of"

    @OptionGroup var load: LoadOptions

    func run() async throws {
        BenchPipelineCommand.bootstrapLogging()
        let logger = Logger(label: "bench-pipeline")
        let client = KafkaClientConfiguration(bootstrapBrokers: brokers, clientID: "bench-pipeline")
        // Like Chorus's own producers (KafkaSettings.producer): an idempotent producer fails for good with
        // UNKNOWN_PRODUCER_ID once the embedded broker is restarted (its keeper does that, scripts/kafka-keeper.py).
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(client: client, rawSettings: ["enable.idempotence": "false", "acks": "all"]),
            logger: logger)
        let answers = "\(namespace).answers", requests = "\(namespace).requests"
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                client: client, groupID: "bench-\(UUID().uuidString.prefix(8))", topics: [answers], autoOffsetReset: .latest),
            logger: logger)
        let waiting = Locked<[String: AnswerSignal]>([:])
        let runID = UUID().uuidString.prefix(8).lowercased()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in consumer.messages {
                    guard let key = message.key.map({ String(decoding: $0, as: UTF8.self) }) else { continue }
                    waiting.withLock { $0.removeValue(forKey: key) }?.signal(answered: true)
                }
            }
            // Ready once the consumer reads what is published now: a probe answer it must see.
            let probe = "probe-\(runID)", seen = AnswerSignal()
            waiting.withLock { $0[probe] = seen }
            let deadline = ContinuousClock.now + .seconds(60)
            while waiting.withLock({ $0[probe] != nil }) {
                guard ContinuousClock.now < deadline else { throw LoadError("the answers consumer saw no probe within 60 s") }
                _ = try await producer.send(topic: answers, key: Array(probe.utf8), value: Array("{}".utf8))
                try await Task.sleep(for: .milliseconds(500))
            }

            let pool = self.pool.split(separator: ",").map { #""\#($0)""# }.joined(separator: ",")
            let judge = self.judge.map { #","judge":"\#($0)""# } ?? ""
            let prefix = "req-bench-\(runID)-"
            let project = self.project, mode = self.mode, maxTokens = load.maxTokens
            let run = try await OpenLoop.run(load) { index in
                let id = "\(prefix)\(index)"
                let body = #"{"id":"\#(id)","project":"\#(project)","pool":[\#(pool)]\#(judge),"mode":"\#(mode)","options":{"max_tokens":\#(maxTokens)},"messages":[{"role":"user","content":"What is the capital of France? (\#(index))"}]}"#
                // Registered before publishing: the answer may come before `send` returns.
                let signal = AnswerSignal()
                waiting.withLock { $0[id] = signal }
                _ = try await producer.send(topic: requests, key: Array(id.utf8), value: Array(body.utf8))
                guard let answeredAt = await signal.wait() else { throw LoadError("no answer") }
                return OpenLoop.Answer(id: id, modelMilliseconds: nil, answeredAt: answeredAt)
            } onGiveUp: {
                // Whoever still waits is counted unanswered.
                let left = waiting.withLock { pending in defer { pending.removeAll() }; return Array(pending.values) }
                for signal in left { signal.signal(answered: false) }
            }
            // The matcher's loop ends when its consumer closes.
            try? await consumer.close()
            group.cancelAll()
            try run.report(load)
        }
        await producer.shutdown()
    }
}

/// One awaited answer: the consumer signals it (with the time it saw the answer), the sender waits.
final class AnswerSignal: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<ContinuousClock.Instant?, Never>)
        case done(ContinuousClock.Instant?)
    }
    private let state = Mutex<State>(.pending)

    /// Records the outcome now (`answered: false` gives up) and wakes the waiter, if any.
    func signal(answered: Bool) {
        let outcome: ContinuousClock.Instant? = answered ? .now : nil
        let waiter: CheckedContinuation<ContinuousClock.Instant?, Never>? = state.withLock { state in
            switch state {
            case .pending: state = .done(outcome); return nil
            case .waiting(let continuation): state = .done(outcome); return continuation
            case .done: return nil
            }
        }
        waiter?.resume(returning: outcome)
    }

    /// When the answer was seen, or nil when given up.
    func wait() async -> ContinuousClock.Instant? {
        await withCheckedContinuation { continuation in
            let outcome: ContinuousClock.Instant?? = state.withLock { state in
                switch state {
                case .pending: state = .waiting(continuation); return nil
                case .waiting: preconditionFailure("one waiter per answer")
                case .done(let outcome): return .some(outcome)
                }
            }
            if let outcome { continuation.resume(returning: outcome) }
        }
    }
}

struct LoadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
