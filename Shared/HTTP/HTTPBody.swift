/// A response body arriving in chunks: an `AsyncSequence` of `[UInt8]` that ends when the body is complete
/// and throws ``HTTPClientError`` (`.responseIncomplete`, `.timedOut`, ...) when it was cut short.
///
/// Chunks are the pieces libcurl received (up to 16 KiB); they follow no message boundaries. Parse
/// server-sent events with ``serverSentEvents()``.
///
/// - Important: Iterate from one task at a time; a second concurrent iteration throws
///   `.streamAlreadyConsumed`. Dropping every copy of the body (and its iterators) before its end cancels
///   the transfer, as does cancelling the task waiting in `next()`.
public struct HTTPBody: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    let storage: HTTPBodyStorage
    /// Cancels the transfer when the last copy of the body and its iterators is gone.
    let owner: HTTPBodyOwner

    init(storage: HTTPBodyStorage) {
        self.storage = storage
        self.owner = HTTPBodyOwner(storage: storage)
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(storage: storage, owner: owner)
    }

    /// Yields the body's chunks in order.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let storage: HTTPBodyStorage
        let owner: HTTPBodyOwner

        public mutating func next() async throws -> [UInt8]? {
            try await storage.next()
        }
    }

    /// Reads the rest of the body into one array.
    ///
    /// Throws `.responseTooLarge` (and cancels the transfer) past `maxBytes`.
    public func collect(upTo maxBytes: Int) async throws -> [UInt8] {
        var result: [UInt8] = []
        for try await chunk in self {
            guard result.count + chunk.count <= maxBytes else {
                storage.cancel()
                throw HTTPClientError(
                    code: .responseTooLarge, target: storage.target, detail: "body exceeds \(maxBytes) bytes")
            }
            result.append(contentsOf: chunk)
        }
        return result
    }
}
