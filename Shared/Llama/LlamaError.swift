/// An error from loading a model or running inference with libllama.
///
/// Errors carry a ``Code`` to switch on, a ``detail`` naming what was wrong, the model path where one
/// is involved, and the underlying libllama return code where there is one.
///
/// - Important: Descriptions never contain prompt or generated text, only sizes, paths and reasons.
public struct LlamaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    ///
    /// A struct with static members rather than an enum, so that new codes do not break callers' switches.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, for logs.
        public let name: String

        private init(_ name: String) { self.name = name }

        public var description: String { name }

        /// The model file does not exist.
        public static let fileNotFound = Code("fileNotFound")
        /// The model file exists but cannot be opened or read.
        public static let fileNotReadable = Code("fileNotReadable")
        /// The file is not a usable GGUF model: wrong magic, unsupported version, corrupt or truncated.
        public static let invalidModel = Code("invalidModel")
        /// The file passed GGUF validation but libllama refused it (for example an unknown architecture).
        public static let modelLoadFailed = Code("modelLoadFailed")
        /// libllama could not create an inference context (usually out of memory).
        public static let contextCreationFailed = Code("contextCreationFailed")
        /// `llama_decode` failed.
        public static let decodeFailed = Code("decodeFailed")
        /// The KV cache has no room for the batch; retry after removing sequences.
        public static let contextFull = Code("contextFull")
        /// The prompt does not fit in the context.
        public static let promptTooLong = Code("promptTooLong")
        /// Text could not be tokenized.
        public static let tokenizationFailed = Code("tokenizationFailed")
        /// The model has no chat template.
        public static let noChatTemplate = Code("noChatTemplate")
        /// The model's chat template is not one libllama can apply.
        public static let unsupportedChatTemplate = Code("unsupportedChatTemplate")
        /// A sequence's state could not be saved or restored.
        public static let stateFailed = Code("stateFailed")
        /// An argument was out of range (sequence ID, batch index, batch size, parameters).
        public static let invalidArgument = Code("invalidArgument")
        /// The worker was closed before or while the job ran.
        public static let workerClosed = Code("workerClosed")
        /// The caller cancelled the generation before it started.
        public static let cancelled = Code("cancelled")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What was wrong, in words (no prompt text).
    public var detail: String
    /// The model file involved, if any.
    public var path: String?
    /// The libllama return code, if the failure came from one.
    public var underlyingCode: Int32?

    /// Creates an error.
    public init(code: Code, detail: String, path: String? = nil, underlyingCode: Int32? = nil) {
        self.code = code
        self.detail = detail
        self.path = path
        self.underlyingCode = underlyingCode
    }

    /// Whether the same call may succeed later without changing its input.
    ///
    /// Only a full KV cache is transient (other sequences finish and free it); everything else fails
    /// the same way again.
    public var isRetriable: Bool {
        code == .contextFull
    }

    public var description: String {
        var text = "LlamaError.\(code.name): \(detail)"
        if let path { text += " (model: \(path))" }
        if let underlyingCode { text += " [libllama code \(underlyingCode)]" }
        return text
    }
}
