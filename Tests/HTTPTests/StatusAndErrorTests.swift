import Foundation
import Testing

@testable import HTTP

@Suite("Status mapping, Retry-After, redaction (no network)")
struct StatusAndErrorTests {
    private let target = RequestTarget(method: .post, url: "https://api.example.com/v1/messages?key=SECRET")

    private func failure(_ status: Int, headers: HTTPHeaders = [:], now: Date = Date()) -> HTTPStatusError? {
        HTTPResponse(status: status, headers: headers, body: [], target: target).failure(now: now)
    }

    @Test("Statuses map to codes and retriability")
    func mapping() throws {
        for status in [200, 204, 301, 304] { #expect(failure(status) == nil) }
        #expect(failure(429)?.code == .rateLimited)
        #expect(failure(429)?.isRetriable == true)
        for status in [408, 500, 502, 503, 504, 529] {
            #expect(failure(status)?.code == .serverError)
            #expect(failure(status)?.isRetriable == true, "\(status)")
        }
        #expect(failure(501)?.code == .serverError)
        #expect(failure(501)?.isRetriable == false)
        for status in [400, 401, 403, 404, 413, 422] {
            #expect(failure(status)?.code == .clientError)
            #expect(failure(status)?.isRetriable == false, "\(status)")
        }
    }

    @Test("Retry-After in seconds and in all three HTTP-date forms")
    func retryAfter() {
        // 1994-11-06 08:49:37 UTC
        let date = Date(timeIntervalSince1970: 784_111_777)
        let now = date.addingTimeInterval(-30)
        #expect(HTTPStatusError.parseRetryAfter("2", now: now) == .seconds(2))
        #expect(HTTPStatusError.parseRetryAfter(" 120 ", now: now) == .seconds(120))
        #expect(HTTPStatusError.parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .seconds(30))
        #expect(HTTPStatusError.parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now: now) == .seconds(30))
        #expect(HTTPStatusError.parseRetryAfter("Sun Nov  6 08:49:37 1994", now: now) == .seconds(30))
        #expect(HTTPStatusError.parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: date.addingTimeInterval(60)) == .zero)
        #expect(HTTPStatusError.parseRetryAfter("soon", now: now) == nil)
        #expect(HTTPStatusError.parseRetryAfter("-5", now: now) == nil)
        #expect(HTTPStatusError.parseRetryAfter("", now: now) == nil)
        #expect(failure(503, headers: ["Retry-After": "7"])?.retryAfter == .seconds(7))
    }

    @Test("Targets keep host, port and path, and drop credentials, query and fragment")
    func requestTarget() {
        let gemini = RequestTarget(
            method: .post,
            url: "https://user:pw@generativelanguage.googleapis.com/v1beta/models/g:generateContent?key=SECRET#f")
        #expect(gemini.host == "generativelanguage.googleapis.com")
        #expect(gemini.port == 443)
        #expect(gemini.path == "/v1beta/models/g:generateContent")
        #expect(gemini.description == "POST https://generativelanguage.googleapis.com:443/v1beta/models/g:generateContent")

        let local = RequestTarget(method: .get, url: "http://[::1]:8080?x=1")
        #expect(local.host == "[::1]")
        #expect(local.port == 8080)
        #expect(local.path == "/")
    }

    @Test("Descriptions of requests, headers and errors print no secrets")
    func redaction() {
        let request = HTTPRequest(
            method: .post, url: "https://api.example.com/v1/chat?key=SECRET",
            headers: ["Authorization": "Bearer SECRET", "x-api-key": "SECRET", "X-Goog-Api-Key": "SECRET", "Accept": "a"],
            body: Array("SECRET body".utf8))
        var dumped = ""
        dump(request, to: &dumped)
        for text in [request.description, "\(request.headers)", dumped, String(reflecting: request.headers)] {
            #expect(!text.contains("SECRET"), "\(text)")
        }
        #expect("\(request.headers)".contains("Accept: a"))
        #expect(request.description == "POST https://api.example.com:443/v1/chat")

        let error = HTTPClientError(code: .timedOut, curlCode: 28, target: target, detail: "took too long")
        #expect(error.description == "HTTP POST api.example.com:443/v1/messages: timed out (curl 28: took too long)")
        let status = failure(429, headers: ["Retry-After": "2"])
        #expect(status?.description == "HTTP POST api.example.com:443/v1/messages: rate limited (status 429, retry after 2.0 seconds)")
    }

    @Test("Header lookup ignores case and keeps order")
    func headers() {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "X-A": "1"]
        headers.add(name: "x-a", value: "2")
        #expect(headers["content-type"] == "application/json")
        #expect(headers.values(for: "X-A") == ["1", "2"])
        headers.replaceOrAdd(name: "X-a", value: "3")
        #expect(headers.values(for: "x-A") == ["3"])
        #expect(!headers.contains(name: "X-B"))
    }

    @Test("Durations convert to whole curl milliseconds, rounding up and never to 0 (no limit)")
    func durations() {
        #expect(Duration.milliseconds(200).curlMilliseconds == 200)
        #expect(Duration.microseconds(1500).curlMilliseconds == 2)
        #expect(Duration.zero.curlMilliseconds == 1)
        #expect(Duration.seconds(-3).curlMilliseconds == 1)
        #expect(Duration.seconds(90).curlMilliseconds == 90_000)
    }
}
