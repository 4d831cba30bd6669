import CLlama
import Foundation
import Logging
import Synchronization

/// Process-wide libllama set-up: backend initialization and log routing.
///
/// The backend initializes itself on first use (loading a model), once and thread-safely; call
/// ``bootstrap(logger:)`` first only to choose where libllama's log lines go.
public enum LlamaBackend {
    /// Sends libllama's and ggml's log lines to `logger` at debug level, then initializes the backend.
    ///
    /// Without this, lines go to a `Logger` labelled `chorus.llama.cpp`, which at swift-log's default
    /// `.info` level prints nothing: libllama never writes to stderr behind the logging system's back.
    public static func bootstrap(logger: Logger) {
        LlamaLogRouter.shared.setLogger(logger)
        ensureInitialized()
    }

    /// Whether this libllama build can offload layers to a GPU (`gpuLayers` is ignored otherwise).
    public static var supportsGPUOffload: Bool {
        ensureInitialized()
        return llama_supports_gpu_offload()
    }

    /// libllama's description of the CPU features and backends it was built with.
    public static var systemInfo: String {
        ensureInitialized()
        return String(cString: llama_print_system_info())
    }

    /// Initializes the backend once per process; cheap after the first call.
    static func ensureInitialized() {
        _ = initialization
    }

    // Swift runs a static's initializer exactly once, thread-safely (swift_once).
    private static let initialization: Void = {
        // Set the log callback before llama_backend_init so that not even its first lines reach stderr.
        llama_log_set(llamaLogCallback, nil)
        llama_backend_init()
    }()
}

/// libllama's log callback: hands the text to the router and returns; never blocks on anything but a
/// short lock.
private let llamaLogCallback: ggml_log_callback = { level, text, _ in
    guard let text else { return }
    LlamaLogRouter.shared.receive(level: level, text: String(cString: text))
}

// MARK: - Routing

/// Joins libllama's line fragments into lines, forwards them to swift-log, and lets a thread collect the
/// error lines libllama writes while it runs a call (so that a failed load can say why).
final class LlamaLogRouter: Sendable {
    static let shared = LlamaLogRouter()

    private struct Capture {
        var thread: pthread_t
        var lines: [String]
    }

    private struct State {
        var logger = Logger(label: "chorus.llama.cpp")
        // ggml writes a line in pieces (GGML_LOG_LEVEL_CONT continues the previous level).
        var pendingText = ""
        var pendingLevel = GGML_LOG_LEVEL_INFO
        var captures: [Capture] = []
    }

    private let state = Mutex(State())

    func setLogger(_ logger: Logger) {
        state.withLock { $0.logger = logger }
    }

    func receive(level: ggml_log_level, text: String) {
        let thread = pthread_self()
        let (logger, lines) = state.withLock { state -> (Logger, [(ggml_log_level, String)]) in
            if level != GGML_LOG_LEVEL_CONT {
                state.pendingLevel = level
            }
            let effectiveLevel = state.pendingLevel
            if effectiveLevel == GGML_LOG_LEVEL_ERROR,
                let index = state.captures.firstIndex(where: { pthread_equal($0.thread, thread) != 0 })
            {
                state.captures[index].lines.append(text)
            }
            state.pendingText += text
            guard state.pendingText.contains("\n") else { return (state.logger, []) }
            var parts = state.pendingText.split(separator: "\n", omittingEmptySubsequences: false)
            state.pendingText = String(parts.removeLast())
            let lines = parts.filter { !$0.isEmpty }.map { (effectiveLevel, String($0)) }
            return (state.logger, lines)
        }
        for (level, line) in lines {
            logger.debug("\(line)", metadata: ["llama.level": "\(Self.name(of: level))"])
        }
    }

    /// Runs `body`, returning its result and the error text libllama logged on this thread meanwhile.
    func capturingErrors<T>(_ body: () throws -> T) rethrows -> (T, String) {
        let thread = pthread_self()
        state.withLock { $0.captures.append(Capture(thread: thread, lines: [])) }
        let result: T
        do {
            result = try body()
        } catch {
            _ = takeCapture(thread: thread)
            throw error
        }
        return (result, takeCapture(thread: thread))
    }

    private func takeCapture(thread: pthread_t) -> String {
        let lines = state.withLock { state -> [String] in
            guard let index = state.captures.lastIndex(where: { pthread_equal($0.thread, thread) != 0 }) else {
                return []
            }
            return state.captures.remove(at: index).lines
        }
        return lines.joined().split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: "; ")
    }

    private static func name(of level: ggml_log_level) -> String {
        switch level {
        case GGML_LOG_LEVEL_DEBUG: "debug"
        case GGML_LOG_LEVEL_INFO: "info"
        case GGML_LOG_LEVEL_WARN: "warn"
        case GGML_LOG_LEVEL_ERROR: "error"
        default: "none"
        }
    }
}
