import Catalog
import ChorusRuntime
import Contracts
import Foundation
import HTTP
import Logging
import Synchronization

/// An external OpenAI-compatible model server (llama-server, vLLM, TGI…) run by gpu-inference for one
/// catalog model: started on the model's cold start, health-checked until ready, called over libcurl,
/// and stopped when the model is unloaded.
///
/// Device time is apportioned like the built-in engine's: while `n` calls are in flight at the server,
/// each accrues `1/n` of the elapsed time, so concurrent calls that the server batches share its time.
final class ModelServerProcess: Sendable {
    let id: String
    let server: ManagedServer
    let port: Int
    private let process: Process
    private let http: HTTPClient
    private let meter = Mutex(SharedTimeMeter())

    /// Why a server could not start or answer.
    struct ServerError: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts the server and returns once its health check answers 200.
    ///
    /// - Throws: ``ServerError`` naming the model and what went wrong: the program cannot be started,
    ///   it exited (with its status), or it was not healthy within its start-up timeout.
    static func start(
        id: String, server: ManagedServer, ggufPath: String, http: HTTPClient, logger: Logger
    ) async throws -> ModelServerProcess {
        let port = try freePort()
        let arguments = server.command.map {
            $0.replacingOccurrences(of: "{port}", with: "\(port)").replacingOccurrences(of: "{gguf}", with: ggufPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ServerError(description: "the model server of \(id) (\(arguments[0])) could not be started: \(error)")
        }
        let instance = ModelServerProcess(id: id, server: server, port: port, process: process, http: http)
        logger.info("model server started", metadata: ["model": "\(id)", "pid": "\(process.processIdentifier)", "port": "\(port)"])
        let deadline = ContinuousClock.now + server.startupTimeout
        while true {
            guard process.isRunning else {
                throw ServerError(
                    description: "the model server of \(id) (\(arguments[0])) exited with status \(process.terminationStatus) before it was healthy")
            }
            let request = HTTPRequest(url: instance.url(server.healthPath), timeout: .seconds(2), connectTimeout: .seconds(1))
            if let response = try? await http.execute(request), response.status == 200 { return instance }
            guard ContinuousClock.now < deadline else {
                await instance.stop()
                throw ServerError(
                    description: "the model server of \(id) was not healthy at \(server.healthPath) within \(server.startupTimeout)")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    private init(id: String, server: ManagedServer, port: Int, process: Process, http: HTTPClient) {
        self.id = id
        self.server = server
        self.port = port
        self.process = process
        self.http = http
    }

    private func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// The result of one call.
    struct Completion: Sendable {
        var content: String
        var finishReason: String?
        var usage: TokenUsage
        var deviceNanos: Int64
    }

    /// Sends one chat completion to the server.
    func complete(_ call: ModelCall, timeout: Duration) async throws -> Completion {
        let body = ChatRequest(
            model: server.upstreamModel, messages: call.messages.map { ChatRequest.Message(role: $0.role.rawValue, content: $0.content) },
            maxTokens: call.maxTokens, temperature: call.temperature)
        let request = HTTPRequest(
            method: .post, url: url("/v1/chat/completions"), headers: ["content-type": "application/json"],
            body: Array(try JSONEncoder().encode(body)), timeout: timeout)
        let ticket = meter.withLock { $0.start(now: .now) }
        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch {
            _ = meter.withLock { $0.end(ticket, now: .now) }
            throw error
        }
        let deviceNanos = meter.withLock { $0.end(ticket, now: .now) }
        guard response.status == 200 else {
            throw ServerError(description: "the model server of \(id) answered HTTP \(response.status)")
        }
        guard let decoded = try? JSONDecoder().decode(ChatResponse.self, from: Data(response.body)),
            let choice = decoded.choices.first
        else {
            throw ServerError(description: "the model server of \(id) answered something that is not an OpenAI chat completion")
        }
        return Completion(
            content: choice.message.content ?? "", finishReason: choice.finishReason,
            usage: TokenUsage(
                promptTokens: decoded.usage?.promptTokens ?? 0, completionTokens: decoded.usage?.completionTokens ?? 0,
                cachedPromptTokens: 0),
            deviceNanos: deviceNanos)
    }

    /// Stops the server: SIGTERM, then SIGKILL if it has not exited within five seconds.
    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<100 where process.isRunning {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Whether the server process is alive (for tests and status).
    var isRunning: Bool { process.isRunning }

    /// A free TCP port on the loopback interface (the kernel's pick for port 0).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw ServerError(description: "no socket for a port probe: errno \(errno)") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw ServerError(description: "could not find a free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    // MARK: - Wire types (the OpenAI chat completions subset a model server speaks)

    struct ChatRequest: Encodable {
        struct Message: Encodable {
            var role: String
            var content: String
        }
        var model: String
        var messages: [Message]
        var maxTokens: Int
        var temperature: Double

        enum CodingKeys: String, CodingKey {
            case model, messages, temperature
            case maxTokens = "max_tokens"
        }
    }

    struct ChatResponse: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable { var content: String? }
            var message: Message
            var finishReason: String?
            enum CodingKeys: String, CodingKey {
                case message
                case finishReason = "finish_reason"
            }
        }
        struct Usage: Decodable {
            var promptTokens: Int
            var completionTokens: Int
            enum CodingKeys: String, CodingKey {
                case promptTokens = "prompt_tokens"
                case completionTokens = "completion_tokens"
            }
        }
        var choices: [Choice]
        var usage: Usage?
    }
}

/// Splits elapsed time among the calls in flight: between two events each of `n` calls accrues `1/n`
/// of the time, so the calls' shares add up to the time the server was busy.
struct SharedTimeMeter {
    private var accrued: [UInt64: Int64] = [:]
    private var last: ContinuousClock.Instant?
    private var nextTicket: UInt64 = 0
    /// Remainders of the integer division, carried so that no nanosecond is lost.
    private var carry: Int64 = 0

    private mutating func advance(to now: ContinuousClock.Instant) {
        defer { last = now }
        guard let last, !accrued.isEmpty else { return }
        let elapsed = (now - last).wholeNanoseconds + carry
        let share = elapsed / Int64(accrued.count)
        carry = elapsed - share * Int64(accrued.count)
        for ticket in accrued.keys { accrued[ticket]! += share }
    }

    /// A call starts; returns its ticket.
    mutating func start(now: ContinuousClock.Instant) -> UInt64 {
        advance(to: now)
        let ticket = nextTicket
        nextTicket += 1
        accrued[ticket] = 0
        return ticket
    }

    /// A call ends; returns the nanoseconds it accrued.
    mutating func end(_ ticket: UInt64, now: ContinuousClock.Instant) -> Int64 {
        advance(to: now)
        return accrued.removeValue(forKey: ticket) ?? 0
    }
}
