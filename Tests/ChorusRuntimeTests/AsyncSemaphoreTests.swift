import ChorusRuntime
import Testing

/// `tryAcquire` bounds the front door's requests in flight (`http.max_in_flight`).
@Suite struct AsyncSemaphoreTests {
    @Test func tryAcquireRefusesPastTheLimitAndAdmitsAgainOnceAPermitIsReturned() {
        let semaphore = AsyncSemaphore(limit: 2)
        #expect(semaphore.tryAcquire())
        #expect(semaphore.tryAcquire())
        #expect(!semaphore.tryAcquire())
        semaphore.release()
        #expect(semaphore.tryAcquire())
        #expect(!semaphore.tryAcquire())
    }

    @Test func concurrentTryAcquiresNeverHoldMoreThanTheLimit() async {
        let semaphore = AsyncSemaphore(limit: 5)
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 { group.addTask { semaphore.tryAcquire() } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 5)
    }

    @Test func tryAcquireDoesNotJumpAheadOfAWaiter() async throws {
        let semaphore = AsyncSemaphore(limit: 1)
        #expect(semaphore.tryAcquire())
        let waiter = Task { try await semaphore.acquire() }
        try await Task.sleep(for: .milliseconds(50))  // the waiter queues
        semaphore.release()  // handed straight to the waiter
        try await waiter.value
        #expect(!semaphore.tryAcquire())
    }
}
