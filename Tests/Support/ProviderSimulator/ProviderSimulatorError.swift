/// A failure to start or run the simulator.
public struct ProviderSimulatorError: Error, CustomStringConvertible, Sendable {
    /// What went wrong; new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        /// ``ProviderSimulator/run()`` was called on a simulator that already ran.
        public static let alreadyRunning = Code(description: "already running")
        /// The server stopped (or was cancelled) before it bound its port.
        public static let stoppedBeforeListening = Code(description: "stopped before listening")
    }

    public var code: Code
    /// What happened, in words; never a key or a request body.
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// Starting the same simulator again will not help.
    public var isRetriable: Bool { false }

    /// `provider simulator <code>: <detail>`.
    public var description: String { "provider simulator \(code): \(detail)" }
}
