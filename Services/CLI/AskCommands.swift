import ArgumentParser
import ChorusRuntime
import Contracts
import Foundation
import Kafka
import Postgres

/// Shared by `ask` and `publish`: a producer for `chorus.requests` and a way to wait for an answer.
struct Pipeline {
    let env: Environment
    let producer: KafkaProducer
    let database: PostgresPool

    static func connect() async throws -> Pipeline {
        let env = try Environment.load()
        let kafka = try KafkaSettings(reader: env.reader)
        try Kafka.checkRuntimeVersion()
        try await KafkaAdmin(configuration: kafka.client(id: "chorus-cli"), logger: env.logger).checkReachability()
        let producer = try KafkaProducer(configuration: kafka.producer(id: "chorus-cli"), logger: env.logger)
        let database = try await DatabaseSettings(reader: env.reader).connectedPool(
            applicationName: "chorus-cli", logger: env.logger, poolSize: 1)
        return Pipeline(env: env, producer: producer, database: database)
    }

    func publish(_ bytes: [UInt8], key: String?) async throws {
        _ = try await producer.send(topic: Topics.requests, key: key.map { Array($0.utf8) }, value: bytes)
    }

    /// Waits for the request's answer row (the judge records it before publishing it).
    func answer(for id: String, timeout: Duration) async throws -> Answer {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let row = try await database.query("SELECT payload::text FROM answers WHERE request_id = \(id)").first {
                return try JSONDecoder().decode(Answer.self, from: Data(try row.decode(String.self, at: 0).utf8))
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ValidationError("no answer for \(id) within \(timeout); is the pipeline running? (bin/chorus status)")
    }

    func close() async {
        await producer.shutdown()
        await database.close()
    }
}

struct Ask: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ask the pool a question and print the fused answer.")

    @Argument(help: "The prompt.") var prompt: String
    @Option(help: "best-of, merge, debate or vote.") var mode: String?
    @Option(help: "Comma-separated model ids (model or model:provider).") var pool: String?
    @Option(help: "The judge model.") var judge: String?
    @Option(help: "A preset from config/models.yaml.") var preset: String?
    @Option(help: "The project to bill.") var project = "default"
    @Option(name: .customLong("max-tokens")) var maxTokens: Int?
    @Option var temperature: Double?
    @Option(help: "Debate rounds.") var rounds: Int?
    @Option(help: "Seconds to wait for the answer.") var wait = 120
    @Flag(help: "Print the answer as JSON.") var json = false

    func run() async {
        await guarded {
            let pipeline = try await Pipeline.connect()
            let id = "ask-" + UUID().uuidString.lowercased()
            let request = SubmittedRequest(
                id: id, project: project, messages: [ChatMessage(role: .user, content: prompt)], preset: preset,
                pool: pool?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, judge: judge, mode: mode,
                options: SubmittedOptions(maxTokens: maxTokens, temperature: temperature, rounds: rounds))
            try await pipeline.publish(Array(try JSONEncoder().encode(request)), key: id)
            let answer = try await pipeline.answer(for: id, timeout: .seconds(wait))
            await pipeline.close()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(answer), as: UTF8.self))
            } else {
                print(AnswerFormatter.text(answer))
            }
            if answer.status == .failed || answer.status == .rejected { throw ExitCode(1) }
        }
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish request JSON to chorus.requests (one object per line, from a file or standard input).")

    @Argument(help: "A file of JSON requests; standard input when absent.") var file: String?

    func run() async {
        await guarded {
            let text: String
            if let file {
                guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
                text = String(decoding: data, as: UTF8.self)
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let pipeline = try await Pipeline.connect()
            var count = 0
            for line in text.split(whereSeparator: \.isNewline) where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let bytes = Array(line.utf8)
                let id = (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])?["id"] as? String
                try await pipeline.publish(bytes, key: id)
                count += 1
            }
            await pipeline.close()
            print("chorus: published \(count) request\(count == 1 ? "" : "s") to \(Topics.requests)")
        }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow chorus.answers and print each answer as it arrives.")

    @Flag(help: "Start from the oldest answer the broker holds.") var fromBeginning = false
    @Flag(help: "Print each answer as one line of JSON.") var json = false

    func run() async {
        await guarded {
            let env = try Environment.load()
            let kafka = try KafkaSettings(reader: env.reader)
            var configuration = kafka.consumer(
                id: "chorus-tail", group: "chorus-tail-\(UUID().uuidString.lowercased())", topics: [Topics.answers],
                fetchWait: .milliseconds(50))
            configuration.autoOffsetReset = fromBeginning ? .earliest : .latest
            let consumer = try KafkaConsumer(configuration: configuration, logger: env.logger)
            var seen = Set<String>()
            for try await message in consumer.messages {
                consumer.markProcessed(message)
                guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(message.value)) else { continue }
                // At-least-once: an answer may be published again after a redelivery.
                guard seen.insert(answer.id).inserted else { continue }
                print(json ? String(decoding: message.value, as: UTF8.self) : AnswerFormatter.line(answer))
                fflush(nil)  // every stream: stdout is not concurrency-safe to name in Swift 6
            }
        }
    }
}

/// How answers print for people.
enum AnswerFormatter {
    static func line(_ a: Answer) -> String {
        let text = (a.answer ?? a.error?.message ?? "").replacingOccurrences(of: "\n", with: " ")
        return "\(a.id)  \(a.status.rawValue)  \(a.mode?.rawValue ?? "-")  \(a.latencyMs) ms  $\(a.costUSD)  \(text.prefix(120))"
    }

    static func text(_ a: Answer) -> String {
        var out = ""
        if let answer = a.answer { out += answer + "\n\n" }
        out += "status \(a.status.rawValue)"
        if let mode = a.mode { out += "  mode \(mode.rawValue)" }
        out += "  \(a.latencyMs) ms  \(a.usage.promptTokens)+\(a.usage.completionTokens) tokens  $\(a.costUSD)  id \(a.id)\n"
        if let error = a.error { out += "error \(error.code): \(error.message)\n" }
        if let verdict = a.verdict {
            out += "verdict \(verdict.method)"
            if let chosen = verdict.chosen, a.candidates.indices.contains(chosen) { out += ": chose \(a.candidates[chosen].model)" }
            if let rationale = verdict.rationale { out += " (\(rationale))" }
            out += "\n"
        }
        for (i, c) in a.candidates.enumerated() {
            let body = (c.content ?? "error \(c.error?.code ?? "?"): \(c.error?.message ?? "")").replacingOccurrences(of: "\n", with: " ")
            out += "  [\(i)] \(c.model)\(c.provider.map { " via \($0)" } ?? "")  \(c.latencyMs) ms  \(body.prefix(160))\n"
        }
        return out
    }
}
