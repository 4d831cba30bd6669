/// Server-sent events parsed from any sequence of byte chunks (an ``HTTPBody``, a file, a test fixture).
///
/// Errors of the base sequence pass through: a body cut short ends this sequence with that error.
public struct ServerSentEventSequence<Base: AsyncSequence>: AsyncSequence where Base.Element == [UInt8] {
    public typealias Element = ServerSentEvent

    let base: Base

    /// Wraps a chunk sequence.
    public init(_ base: Base) {
        self.base = base
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator())
    }

    /// Yields events as their terminating blank line arrives.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var parser = ServerSentEventParser()
        var ready: [ServerSentEvent] = []
        var readyIndex = 0

        init(base: Base.AsyncIterator) {
            self.base = base
        }

        public mutating func next() async throws -> ServerSentEvent? {
            while readyIndex == ready.count {
                guard let chunk = try await base.next() else { return nil }
                ready = parser.parse(chunk)
                readyIndex = 0
            }
            defer { readyIndex += 1 }
            return ready[readyIndex]
        }
    }
}

extension ServerSentEventSequence: Sendable where Base: Sendable {}

extension AsyncSequence where Element == [UInt8] {
    /// Parses this byte-chunk sequence as a `text/event-stream`.
    public func serverSentEvents() -> ServerSentEventSequence<Self> {
        ServerSentEventSequence(self)
    }
}
