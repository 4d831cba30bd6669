import ChorusRuntime
import Synchronization
import Testing

@Suite struct BatcherTests {
    struct Refused: Error {}

    /// Records the batches it is given; refuses any batch holding a negative item.
    final class Recorder: Sendable {
        let batches = Mutex<[[Int]]>([])

        func run(_ items: [Int]) async throws -> [String] {
            batches.withLock { $0.append(items) }
            // Slow enough that concurrent callers pile up behind the running batch.
            try await Task.sleep(for: .milliseconds(20))
            if items.contains(where: { $0 < 0 }) { throw Refused() }
            return items.map { "item \($0)" }
        }
    }

    @Test func eachCallerGetsItsOwnResultAndCallersShareBatches() async throws {
        let recorder = Recorder()
        let batcher = Batcher<Int, String>(maxBatch: 8) { try await recorder.run($0) }
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for n in 0..<40 { group.addTask { (n, try await batcher.submit(n)) } }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 40)
        #expect(results.allSatisfy { $0.value == "item \($0.key)" })
        let batches = recorder.batches.withLock { $0 }
        #expect(batches.allSatisfy { $0.count <= 8 })
        #expect(batches.count < 40, "callers arriving while a batch ran should have shared the next one")
        #expect(batches.flatMap { $0 }.sorted() == Array(0..<40))
    }

    @Test func aLoneCallerIsRunAtOnce() async throws {
        let recorder = Recorder()
        let batcher = Batcher<Int, String>(maxBatch: 8) { try await recorder.run($0) }
        #expect(try await batcher.submit(7) == "item 7")
        #expect(try await batcher.submit(8) == "item 8")
        #expect(recorder.batches.withLock { $0 } == [[7], [8]])
    }

    @Test func aFailingItemFailsAloneNotItsBatch() async throws {
        let recorder = Recorder()
        let batcher = Batcher<Int, String>(maxBatch: 16) { try await recorder.run($0) }
        let outcomes = await withTaskGroup(of: (Int, Bool).self) { group in
            for n in [1, 2, -3, 4, 5] { group.addTask { (n, (try? await batcher.submit(n)) != nil) } }
            return await group.reduce(into: [Int: Bool]()) { $0[$1.0] = $1.1 }
        }
        #expect(outcomes == [1: true, 2: true, -3: false, 4: true, 5: true])
    }

    @Test func aRunReturningTheWrongNumberOfResultsFailsItsCallers() async throws {
        let batcher = Batcher<Int, Int>(maxBatch: 4) { _ in [] }
        await #expect(throws: BatcherError.self) { try await batcher.submit(1) }
    }
}
