import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import HTTP

/// Runs `body` with a started client and a fresh loopback server; shuts both down afterwards.
private func withClient<T>(
    _ configuration: HTTPClient.Configuration = HTTPClient.Configuration(),
    _ body: (HTTPClient, TestHTTPServer) async throws -> T
) async throws -> T {
    let server = try TestHTTPServer()
    let client = HTTPClient(configuration: configuration)
    client.start()
    defer { server.stop() }
    do {
        let result = try await body(client, server)
        await client.shutdown()
        return result
    } catch {
        await client.shutdown()
        throw error
    }
}

/// Deterministic pseudo-random bytes (a xorshift generator), so a failure reproduces.
private func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

@Suite("HTTPClient against a loopback server", .timeLimit(.minutes(1)))
struct HTTPClientTests {
    @Test("POST bodies round-trip byte for byte, binary and 1 MB included; response headers are parsed")
    func postRoundTrip() async throws {
        try await withClient { client, server in
            let binary = (0..<4).flatMap { _ in (0...255).map { UInt8($0) } }
            let response = try await client.execute(
                HTTPRequest(
                    method: .post, url: "\(server.baseURL)/echo",
                    headers: ["Content-Type": "application/octet-stream", "X-Custom": "custom value"], body: binary))
            #expect(response.status == 200)
            #expect(response.body == binary)
            #expect(response.headers["x-echo-method"] == "POST")
            #expect(response.headers["X-ECHO-CUSTOM"] == "custom value")
            #expect(response.headers["X-Echo-Content-Type"] == "application/octet-stream")
            #expect(response.headers["X-Echo-User-Agent"] == "chorus")
            #expect(response.headers.values(for: "X-Multi") == ["a", "b"])
            #expect(response.headers["Content-Length"] == "\(binary.count)")

            let large = pseudoRandomBytes(count: 1 << 20, seed: 42)
            let largeResponse = try await client.execute(
                HTTPRequest(method: .post, url: "\(server.baseURL)/echo", body: large))
            #expect(largeResponse.body == large)
            // No Expect: 100-continue stall, and no invented form Content-Type.
            #expect(largeResponse.headers["X-Echo-Expect"] == "-")
            #expect(largeResponse.headers["X-Echo-Content-Type"] == "-")

            let put = try await client.execute(
                HTTPRequest(method: .put, url: "\(server.baseURL)/echo", body: Array("put body".utf8)))
            #expect(put.headers["X-Echo-Method"] == "PUT")
            #expect(put.body == Array("put body".utf8))

            let chunked = try await client.execute(HTTPRequest(url: "\(server.baseURL)/chunked"))
            #expect(String(decoding: chunked.body, as: UTF8.self) == "hello, chunked world")
        }
    }

    @Test("A request past its timeout fails with a retriable timeout error")
    func timeout() async throws {
        try await withClient { client, server in
            let request = HTTPRequest(url: "\(server.baseURL)/slow?ms=2000", timeout: .milliseconds(200))
            let error = try #require(await #expect(throws: HTTPClientError.self) { try await client.execute(request) })
            #expect(error.code == .timedOut)
            #expect(error.curlCode == 28)
            #expect(error.isRetriable)
            #expect(error.description.contains("GET 127.0.0.1:\(server.port)/slow"))
            #expect(!error.description.contains("ms=2000"))
        }
    }

    @Test("429, 500 and 404 map to rate limited, retriable server error and non-retriable client error")
    func statusMapping() async throws {
        try await withClient { client, server in
            let limited = try await client.execute(HTTPRequest(url: "\(server.baseURL)/status/429?key=SECRET"))
            #expect(limited.status == 429)
            let rateLimit = try #require(limited.failure())
            #expect(rateLimit.code == .rateLimited)
            #expect(rateLimit.isRetriable)
            #expect(rateLimit.retryAfter == .seconds(2))
            #expect(rateLimit.responseBody == Array("status 429".utf8))
            #expect(rateLimit.description.contains("/status/429"))
            #expect(!rateLimit.description.contains("SECRET"))
            #expect(throws: HTTPStatusError.self) { try limited.checked() }

            let server500 = try #require(try await client.execute(HTTPRequest(url: "\(server.baseURL)/status/500")).failure())
            #expect(server500.code == .serverError)
            #expect(server500.isRetriable)
            #expect(server500.retryAfter == nil)

            let notFound = try #require(try await client.execute(HTTPRequest(url: "\(server.baseURL)/status/404")).failure())
            #expect(notFound.code == .clientError)
            #expect(!notFound.isRetriable)

            let ok = try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo"))
            #expect(ok.failure() == nil)
            #expect(try ok.checked().status == 200)
        }
    }

    @Test("Server-sent events arrive whole although split across chunks")
    func serverSentEvents() async throws {
        try await withClient { client, server in
            let response = try await client.stream(HTTPRequest(url: "\(server.baseURL)/sse"))
            #expect(response.status == 200)
            #expect(response.headers["Content-Type"] == "text/event-stream")
            var events: [ServerSentEvent] = []
            for try await event in response.body.serverSentEvents() { events.append(event) }
            #expect(
                events == [
                    ServerSentEvent(event: "greeting", data: "hello"),
                    ServerSentEvent(data: "line one\nline two"),
                    ServerSentEvent(data: "{\"x\":1}", id: "7"),
                    ServerSentEvent(data: "done", id: "7"),
                ])
        }
    }

    @Test("A stream cut short throws from the body sequence after the events that did arrive")
    func serverSentEventsCut() async throws {
        try await withClient { client, server in
            let response = try await client.stream(HTTPRequest(url: "\(server.baseURL)/sse-cut"))
            #expect(response.status == 200)
            var events: [ServerSentEvent] = []
            let error = try #require(
                await #expect(throws: HTTPClientError.self) {
                    for try await event in response.body.serverSentEvents() { events.append(event) }
                })
            #expect(error.code == .responseIncomplete)
            #expect(error.isRetriable)
            #expect(events == [ServerSentEvent(event: "greeting", data: "hello")])
        }
    }

    @Test("A streamed body collects whole, and a failure status is typed before reading it")
    func streamCollect() async throws {
        try await withClient { client, server in
            let response = try await client.stream(HTTPRequest(url: "\(server.baseURL)/chunked"))
            #expect(try await response.body.collect(upTo: 1024) == Array("hello, chunked world".utf8))

            let limited = try await client.stream(HTTPRequest(url: "\(server.baseURL)/status/429"))
            #expect(limited.failure()?.code == .rateLimited)
            #expect(limited.failure()?.retryAfter == .seconds(2))

            let tooLarge = try await client.stream(HTTPRequest(url: "\(server.baseURL)/chunked"))
            let error = try #require(await #expect(throws: HTTPClientError.self) { try await tooLarge.body.collect(upTo: 3) })
            #expect(error.code == .responseTooLarge)
        }
    }

    @Test("A streamed body larger than the stream buffer arrives whole through pause and resume")
    func backPressure() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.streamBufferBytes = 1  // every chunk beyond the first pauses the transfer until read
        try await withClient(configuration) { client, server in
            let large = pseudoRandomBytes(count: 1 << 20, seed: 7)
            let response = try await client.stream(
                HTTPRequest(method: .post, url: "\(server.baseURL)/echo", body: large))
            var received: [UInt8] = []
            var chunks = 0
            for try await chunk in response.body {
                received.append(contentsOf: chunk)
                chunks += 1
                await Task.yield()
            }
            #expect(received == large)
            #expect(chunks > 1)
        }
    }

    @Test("Sequential requests reuse one kept-alive connection")
    func connectionReuse() async throws {
        try await withClient { client, server in
            for index in 0..<20 {
                let body = Array("request \(index)".utf8)
                let response = try await client.execute(
                    HTTPRequest(method: .post, url: "\(server.baseURL)/echo", body: body))
                #expect(response.body == body)
            }
            #expect(server.acceptedConnections == 1)
        }
    }

    @Test("200 concurrent requests all succeed with their own bodies")
    func concurrentRequests() async throws {
        try await withClient { client, server in
            let bodies = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let response = try await client.execute(
                            HTTPRequest(
                                method: .post, url: "\(server.baseURL)/echo", body: Array("request \(index)".utf8)))
                        return (index, response.body)
                    }
                }
                var bodies: [Int: [UInt8]] = [:]
                for try await (index, body) in group { bodies[index] = body }
                return bodies
            }
            #expect(bodies.count == 200)
            for index in 0..<200 {
                #expect(bodies[index] == Array("request \(index)".utf8))
            }
            #expect(server.acceptedConnections <= 200)
        }
    }

    @Test("Cancelling an in-flight request throws CancellationError and the client keeps working")
    func cancellation() async throws {
        try await withClient { client, server in
            let outcome = await withTaskGroup(of: Result<HTTPResponse, any Error>.self) { group in
                group.addTask {
                    do {
                        // Far longer than any scheduling delay, so only cancellation can end it in time.
                        return .success(try await client.execute(HTTPRequest(url: "\(server.baseURL)/slow?ms=60000")))
                    } catch {
                        return .failure(error)
                    }
                }
                // Cancel only once the server holds the request, so the transfer is truly in flight.
                for await path in server.arrivals where path == "/slow" { break }
                group.cancelAll()
                return await group.next()!
            }
            #expect(throws: CancellationError.self) { try outcome.get() }

            let response = try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo"))
            #expect(response.status == 200)
        }
    }

    @Test("Dropping a streamed body early cancels its transfer and the client keeps working")
    func abandonedStream() async throws {
        try await withClient { client, server in
            do {
                let response = try await client.stream(HTTPRequest(url: "\(server.baseURL)/sse"))
                var iterator = response.body.serverSentEvents().makeAsyncIterator()
                let first = try await iterator.next()
                #expect(first?.data == "hello")
            }
            let response = try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo"))
            #expect(response.status == 200)
        }
    }

    @Test("A refused connection is a clear error naming host and port")
    func connectionRefused() async throws {
        let port = try closedPort()
        let client = HTTPClient()
        let error = try #require(
            await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPRequest(method: .post, url: "http://127.0.0.1:\(port)/v1/chat?key=SECRET"))
            })
        #expect(error.code == .connectionFailed)
        #expect(error.isRetriable)
        #expect(error.description.contains("127.0.0.1:\(port)"))
        #expect(!error.description.contains("SECRET"))
        await client.shutdown()
    }

    @Test("Malformed headers and URLs are refused without echoing header values")
    func invalidRequests() async throws {
        try await withClient { client, server in
            let injected = HTTPRequest(
                url: "\(server.baseURL)/echo", headers: ["Authorization": "Bearer sk-SECRET\r\nX-Evil: 1"])
            let error = try #require(await #expect(throws: HTTPClientError.self) { try await client.execute(injected) })
            #expect(error.code == .invalidRequest)
            #expect(error.description.contains("Authorization"))
            #expect(!error.description.contains("SECRET"))

            let badScheme = try #require(
                await #expect(throws: HTTPClientError.self) {
                    try await client.execute(HTTPRequest(url: "ftp://127.0.0.1:\(server.port)/file"))
                })
            #expect(badScheme.code == .invalidRequest)
            #expect(!badScheme.isRetriable)

            // The loop survived both.
            #expect(try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo")).status == 200)
        }
    }

    @Test("run() serves requests until cancelled; afterwards requests fail with shutDown")
    func serviceLifecycle() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let client = HTTPClient()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            let response = try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo"))
            #expect(response.status == 200)
            group.cancelAll()
            try await group.waitForAll()
        }
        let error = try #require(
            await #expect(throws: HTTPClientError.self) {
                try await client.execute(HTTPRequest(url: "\(server.baseURL)/echo"))
            })
        #expect(error.code == .shutDown)
        #expect(!error.isRetriable)
    }

    @Test("Graceful shutdown lets an in-flight request finish")
    func gracefulShutdown() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let client = HTTPClient()
        try await withThrowingTaskGroup(of: HTTPResponse.self) { group in
            group.addTask { try await client.execute(HTTPRequest(url: "\(server.baseURL)/slow?ms=300")) }
            for await path in server.arrivals where path == "/slow" { break }
            await client.shutdown(gracefully: true)
            let response = try await group.next()
            #expect(response?.status == 200)
        }
    }
}

/// A loopback port nothing listens on: bound, then closed.
private func closedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 ? getsockname(fd, pointer, &length) : -1
        }
    }
    try #require(result == 0)
    return Int(UInt16(bigEndian: address.sin_port))
}
