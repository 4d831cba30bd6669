import Testing

@testable import Postgres

/// The pool's bookkeeping, without threads or a database. Waiters are plain strings.
@Suite struct PoolStateMachineTests {
    typealias Machine = PostgresPoolStateMachine<String, String>

    @Test func leasesIdleConnectionsThenQueuesWaiters() {
        var machine = Machine(connectionCount: 2)
        #expect(machine.leaseIfIdle() == 0)
        guard case .use(connection: 1) = machine.lease(id: 1, waiter: "a", isCancelled: false) else {
            Issue.record("expected connection 1")
            return
        }
        #expect(machine.leaseIfIdle() == nil)
        guard case .wait = machine.lease(id: 2, waiter: "b", isCancelled: false) else {
            Issue.record("expected to wait")
            return
        }
        #expect(machine.leasedCount == 2)
        #expect(machine.waitingCount == 1)
    }

    @Test func releaseHandsConnectionToOldestWaiterFirst() {
        var machine = Machine(connectionCount: 1)
        #expect(machine.leaseIfIdle() == 0)
        for (id, name) in ["first", "second", "third"].enumerated() {
            guard case .wait = machine.lease(id: id, waiter: name, isCancelled: false) else {
                Issue.record("expected to wait")
                return
            }
        }
        var served: [String] = []
        for _ in 0..<3 {
            guard case .handOver(let waiter, connection: 0) = machine.release(connection: 0) else {
                Issue.record("expected a hand-over")
                return
            }
            served.append(waiter)
        }
        #expect(served == ["first", "second", "third"])
        guard case .none = machine.release(connection: 0) else {
            Issue.record("expected the connection to go idle")
            return
        }
        #expect(machine.leasedCount == 0)
        #expect(machine.leaseIfIdle() == 0)
    }

    @Test func newcomerDoesNotOvertakeWaiters() {
        var machine = Machine(connectionCount: 1)
        #expect(machine.leaseIfIdle() == 0)
        _ = machine.lease(id: 1, waiter: "waiting", isCancelled: false)
        // The release hands the connection over directly; nothing is idle for a newcomer.
        guard case .handOver("waiting", connection: 0) = machine.release(connection: 0) else {
            Issue.record("expected the waiter to be served")
            return
        }
        #expect(machine.leaseIfIdle() == nil)
    }

    @Test func cancelledWaiterIsRemovedAndNotServed() {
        var machine = Machine(connectionCount: 1)
        #expect(machine.leaseIfIdle() == 0)
        _ = machine.lease(id: 1, waiter: "a", isCancelled: false)
        _ = machine.lease(id: 2, waiter: "b", isCancelled: false)
        #expect(machine.cancelLease(id: 1) == "a")
        #expect(machine.cancelLease(id: 1) == nil)
        guard case .handOver("b", connection: 0) = machine.release(connection: 0) else {
            Issue.record("expected b to be served")
            return
        }
    }

    @Test func leaseInCancelledTaskFailsEvenWithIdleConnections() {
        var machine = Machine(connectionCount: 1)
        guard case .fail(.cancelled) = machine.lease(id: 1, waiter: "a", isCancelled: true) else {
            Issue.record("expected cancellation")
            return
        }
        #expect(machine.leasedCount == 0)
    }

    @Test func closeFailsWaitersAndStopsWorkersAfterLastLease() {
        var machine = Machine(connectionCount: 2)
        #expect(machine.leaseIfIdle() == 0)
        #expect(machine.leaseIfIdle() == 1)
        _ = machine.lease(id: 1, waiter: "w1", isCancelled: false)
        _ = machine.lease(id: 2, waiter: "w2", isCancelled: false)
        guard case .waitForLeases(let failing) = machine.close(waiter: "closer") else {
            Issue.record("expected to wait for leases")
            return
        }
        #expect(failing == ["w1", "w2"])
        guard case .fail(.poolClosed) = machine.lease(id: 3, waiter: "late", isCancelled: false) else {
            Issue.record("expected poolClosed")
            return
        }
        guard case .wait = machine.close(waiter: "second closer") else {
            Issue.record("expected the second close to wait")
            return
        }
        guard case .none = machine.release(connection: 0) else {
            Issue.record("one lease is still out")
            return
        }
        guard case .stopWorkers = machine.release(connection: 1) else {
            Issue.record("expected to stop the workers")
            return
        }
        #expect(machine.workersStopped() == ["closer", "second closer"])
        #expect(machine.isClosed)
        guard case .alreadyClosed = machine.close(waiter: "late closer") else {
            Issue.record("expected alreadyClosed")
            return
        }
    }

    @Test func closeOfIdlePoolStopsWorkersAtOnce() {
        var machine = Machine(connectionCount: 3)
        guard case .stopWorkers(let failing) = machine.close(waiter: "closer") else {
            Issue.record("expected to stop at once")
            return
        }
        #expect(failing.isEmpty)
        #expect(machine.leaseIfIdle() == nil)
    }

    @Test func manyWaitersAreServedInOrder() {
        var machine = Machine(connectionCount: 1)
        #expect(machine.leaseIfIdle() == 0)
        for id in 0..<1000 {
            _ = machine.lease(id: id, waiter: "\(id)", isCancelled: false)
        }
        #expect(machine.cancelLease(id: 500) == "500")
        var served: [String] = []
        while case .handOver(let waiter, _) = machine.release(connection: 0) {
            served.append(waiter)
        }
        #expect(served == (0..<1000).filter { $0 != 500 }.map { "\($0)" })
    }
}
