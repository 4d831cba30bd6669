import Testing

@testable import HTTP

@Suite("CurlLoopState (no network)")
struct CurlLoopStateTests {
    typealias State = CurlLoopState<String, Int>

    @Test("The first submission starts the loop; the rest queue until the loop takes them")
    func startAndQueue() {
        var state = State()
        guard case .startLoop = state.submit("a") else { Issue.record("expected .startLoop"); return }
        guard case .none = state.submit("b") else { Issue.record("expected .none while the loop is awake"); return }
        do { let result = state.prepareToPoll(); #expect(result == false, "queued work must be taken before sleeping") }
        let work = state.takeWork()
        #expect(work.submissions == ["a", "b"])
        #expect(work.stop == nil)
        do { let result = state.prepareToPoll(); #expect(result) }
    }

    @Test("Only the first submission while the loop sleeps sends a wakeup")
    func wakeupCoalescing() {
        var state = State()
        do { let result = state.start(); #expect(result) }
        do { let result = state.start(); #expect(!result) }
        _ = state.takeWork()
        do { let result = state.prepareToPoll(); #expect(result) }
        guard case .wakeLoop = state.submit("a") else { Issue.record("expected .wakeLoop"); return }
        guard case .none = state.submit("b") else { Issue.record("expected no second wakeup"); return }
        do { let result = state.cancel(transferID: 1); #expect(!result) }
        do { let result = state.resume(transferID: 2); #expect(!result) }
        let work = state.takeWork()
        #expect(work.submissions == ["a", "b"])
        #expect(work.cancellations == [1])
        #expect(work.resumes == [2])
        // Awake again: nothing wakes it until it sleeps again, then one wakeup.
        do { let result = state.cancel(transferID: 3); #expect(!result) }
        do { let result = state.prepareToPoll(); #expect(!result) }
        _ = state.takeWork()
        do { let result = state.prepareToPoll(); #expect(result) }
        do { let result = state.cancel(transferID: 4); #expect(result) }
    }

    @Test("Graceful shutdown refuses new submissions and tells the loop to drain; abort overrides")
    func drainThenAbort() {
        var state = State()
        _ = state.submit("a")
        _ = state.takeWork()
        do { let result = state.prepareToPoll(); #expect(result) }
        guard case .wakeLoop = state.shutdown(.drain) else { Issue.record("expected .wakeLoop"); return }
        #expect(state.lifecycle == .draining)
        guard case .reject("late") = state.submit("late") else { Issue.record("expected .reject"); return }
        guard case .none = state.shutdown(.drain) else { Issue.record("a second drain is a no-op"); return }
        _ = state.shutdown(.abort)
        #expect(state.lifecycle == .aborting)
        do { let result = state.takeWork(); #expect(result.stop == .abort) }
        do { let result = state.addStopWaiter(1); #expect(result) }
        let exited = state.loopExited()
        #expect(exited.waiters == [1])
        #expect(state.lifecycle == .stopped)
        do { let result = state.addStopWaiter(2); #expect(!result, "a waiter arriving after the exit resumes at once") }
        do { let result = state.cancel(transferID: 9); #expect(!result) }
    }

    @Test("A stop requested between takeWork and prepareToPoll keeps the loop awake")
    func stopBeforeSleep() {
        var state = State()
        do { let result = state.start(); #expect(result) }
        _ = state.takeWork()
        guard case .none = state.shutdown(.abort) else { Issue.record("the loop is awake: no wakeup"); return }
        do { let result = state.prepareToPoll(); #expect(!result) }
        do { let result = state.takeWork(); #expect(result.stop == .abort) }
    }

    @Test("Shutting down a client whose loop never ran fails queued submissions and stops at once")
    func shutdownWithoutLoop() {
        var state = State()
        do { let result = state.addStopWaiter(7); #expect(result) }
        guard case .stoppedWithoutLoop(let waiters, let pending) = state.shutdown(.abort) else {
            Issue.record("expected .stoppedWithoutLoop")
            return
        }
        #expect(waiters == [7])
        #expect(pending.isEmpty)
        #expect(state.lifecycle == .stopped)
        guard case .reject = state.submit("x") else { Issue.record("expected .reject"); return }
    }
}

@Suite("BodyStreamState (no network)")
struct BodyStreamStateTests {
    typealias State = BodyStreamState<Int>

    private func chunk(_ count: Int, _ value: UInt8 = 1) -> [UInt8] { [UInt8](repeating: value, count: count) }

    @Test("Chunks come out in order, then the end")
    func order() {
        var state = State(highWater: 100)
        guard case .buffered = state.receive([1]), case .buffered = state.receive([2, 3]) else {
            Issue.record("expected .buffered")
            return
        }
        guard case .chunk([1]) = state.next(), case .chunk([2, 3]) = state.next() else {
            Issue.record("expected the chunks in order")
            return
        }
        guard case .wait = state.next() else { Issue.record("expected .wait"); return }
        guard case .none = state.finish(error: nil), case .end = state.next() else {
            Issue.record("expected the end")
            return
        }
    }

    @Test("A waiting consumer gets the next chunk directly, or the end")
    func waiter() {
        var state = State(highWater: 100)
        do { let result = state.wait(1); #expect(result == nil) }
        guard case .resume(1, [9]) = state.receive([9]) else { Issue.record("expected .resume"); return }
        do { let result = state.wait(2); #expect(result == nil) }
        guard case .busy? = state.wait(3) else { Issue.record("a second waiter is refused"); return }
        guard case .resume(2, nil) = state.finish(error: nil) else { Issue.record("expected the end"); return }
    }

    @Test("Past the high-water mark the transfer pauses; draining to the low-water mark resumes it")
    func backPressure() {
        var state = State(highWater: 100)
        for _ in 0..<4 { _ = state.receive(chunk(30)) }
        #expect(state.bufferedBytes == 120)
        guard case .pause = state.receive(chunk(30)) else { Issue.record("expected .pause"); return }
        #expect(state.bufferedBytes == 120, "a paused chunk is not taken")
        #expect(state.isPaused)
        guard case .chunk = state.next(), case .chunk = state.next(), case .chunk = state.next() else {
            Issue.record("expected chunks")
            return
        }
        // 30 bytes left > low water (25): still paused.
        #expect(state.isPaused)
        guard case .chunkAndResumeTransfer = state.next() else { Issue.record("expected the resume"); return }
        #expect(!state.isPaused)
        #expect(state.bufferedBytes == 0)
    }

    @Test("A failure comes after the chunks that arrived before it")
    func failureAfterChunks() {
        struct Cut: Error {}
        var state = State(highWater: 100)
        _ = state.receive([1])
        guard case .none = state.finish(error: Cut()) else { Issue.record("no waiter to resume"); return }
        guard case .chunk([1]) = state.next(), case .fail(let error) = state.next() else {
            Issue.record("expected the chunk, then the failure")
            return
        }
        #expect(error is Cut)
    }

    @Test("Cancelling wakes the waiter, asks to cancel the transfer once, and aborts later writes")
    func cancel() {
        var state = State(highWater: 100)
        do { let result = state.wait(1); #expect(result == nil) }
        guard case .cancelTransfer(waiter: 1?) = state.cancel() else { Issue.record("expected cancel"); return }
        guard case .none = state.cancel() else { Issue.record("a second cancel is a no-op"); return }
        guard case .abort = state.receive([1]) else { Issue.record("expected .abort"); return }
        guard case .cancelled = state.next() else { Issue.record("expected .cancelled"); return }
        guard case .none = state.finish(error: nil) else { Issue.record("finish after cancel is a no-op"); return }
    }

    @Test("Dropping a finished body does not cancel anything")
    func dropAfterEnd() {
        var state = State(highWater: 100)
        _ = state.receive([1])
        _ = state.finish(error: nil)
        guard case .none = state.cancel() else { Issue.record("expected .none"); return }
    }
}
