import Testing

@testable import GPUInference

@Suite struct ModelFleetTests {
    let start = ContinuousClock.now

    func fleet(budget: Int64?, minWarm: Int = 0) -> ModelFleet {
        let spec = ModelFleet.Spec(idleWindow: .seconds(60), minWarm: minWarm, warmBytes: 100, snapshotBytes: 60)
        return ModelFleet(specs: ["a": spec, "b": spec, "c": spec], budget: budget, now: start)
    }

    func warm(_ fleet: inout ModelFleet, _ id: String, at seconds: Int) {
        guard case .load = fleet.acquire(id, now: start + .seconds(seconds)) else {
            Issue.record("\(id) did not start loading")
            return
        }
        fleet.loaded(id, warmBytes: 100, snapshotBytes: 60)
    }

    @Test func aColdModelLoadsFromDiskAndLaterCallsWaitForThatLoad() {
        var fleet = fleet(budget: nil)
        let r1 = fleet.acquire("a", now: start)
        #expect(r1 == .load(.disk, unload: [], dropSnapshots: []))
        let r2 = fleet.acquire("a", now: start)
        #expect(r2 == .awaitLoad)
        fleet.loaded("a", warmBytes: 100, snapshotBytes: 60)
        let r3 = fleet.acquire("a", now: start)
        #expect(r3 == .ready)
        #expect(fleet.models["a"]?.holders == 3)
        let r4 = fleet.acquire("zzz", now: start)
        #expect(r4 == .unknown)
    }

    @Test func idleModelsDrainAfterTheirWindowAndComeBackFromTheSnapshot() {
        var fleet = fleet(budget: nil)
        warm(&fleet, "a", at: 0)
        fleet.release("a", now: start + .seconds(1))
        let r5 = fleet.expired(now: start + .seconds(60))
        #expect(r5.isEmpty)  // 59 s idle
        let r6 = fleet.expired(now: start + .seconds(61))
        #expect(r6 == ["a"])
        let r7 = fleet.acquire("a", now: start + .seconds(61))
        #expect(r7 == .awaitDrain)
        let r8 = fleet.drained("a", snapshotAvailable: true)
        #expect(r8)
        #expect(fleet.residentBytes == 60)
        let r9 = fleet.acquire("a", now: start + .seconds(62))
        #expect(r9 == .load(.snapshot, unload: [], dropSnapshots: []))
    }

    @Test func aHeldModelNeverExpires() {
        var fleet = fleet(budget: nil)
        warm(&fleet, "a", at: 0)
        let r10 = fleet.expired(now: start + .seconds(3600))
        #expect(r10.isEmpty)
    }

    @Test func minimumWarmModelsStayAndAreReloaded() {
        var fleet = fleet(budget: nil, minWarm: 1)
        #expect(fleet.belowMinimum == ["a", "b", "c"])
        warm(&fleet, "a", at: 0)
        fleet.release("a", now: start)
        let r11 = fleet.expired(now: start + .seconds(3600))
        #expect(r11.isEmpty)
        #expect(fleet.belowMinimum == ["b", "c"])
    }

    @Test func underATightBudgetTheIdleModelIsEvictedNeverTheBusyOne() {
        var fleet = fleet(budget: 250)
        warm(&fleet, "a", at: 0)
        fleet.release("a", now: start + .seconds(1))  // a: idle since 1 s
        warm(&fleet, "b", at: 2)  // b: busy
        let r12 = fleet.acquire("c", now: start + .seconds(3))
        #expect(r12 == .load(.disk, unload: ["a"], dropSnapshots: []))
        #expect(fleet.models["b"]?.phase == .warm)
        // The evicted model keeps no snapshot: the budget has no room for it.
        let r13 = fleet.drained("a", snapshotAvailable: true)
        #expect(!r13)
    }

    @Test func whenOnlyBusyModelsStandInTheWayTheCallWaitsForMemory() {
        var fleet = fleet(budget: 250)
        warm(&fleet, "a", at: 0)
        warm(&fleet, "b", at: 1)
        let r14 = fleet.acquire("c", now: start + .seconds(2))
        #expect(r14 == .awaitMemory)
        fleet.release("b", now: start + .seconds(3))
        let r15 = fleet.acquire("c", now: start + .seconds(4))
        #expect(r15 == .load(.disk, unload: ["b"], dropSnapshots: []))
    }

    @Test func snapshotsGoBeforeWarmModelsAndOldestFirst() {
        var fleet = fleet(budget: 200)
        warm(&fleet, "a", at: 0)
        fleet.release("a", now: start + .seconds(1))
        warm(&fleet, "b", at: 2)
        fleet.release("b", now: start + .seconds(3))
        _ = fleet.expired(now: start + .seconds(100))
        let r16 = fleet.drained("a", snapshotAvailable: true)
        #expect(r16)  // 60 + 100 (b draining) fits
        let r17 = fleet.drained("b", snapshotAvailable: true)
        #expect(r17)  // 120 fits
        // c needs 100: dropping a's snapshot (the older) is enough.
        let r18 = fleet.acquire("c", now: start + .seconds(101))
        #expect(r18 == .load(.disk, unload: [], dropSnapshots: ["a"]))
        let r19 = fleet.acquire("b", now: start + .seconds(102))
        #expect(r19 == .load(.snapshot, unload: [], dropSnapshots: []))
    }

    @Test func aFailedLoadReleasesItsWaitersAndRetriesFromDisk() {
        var fleet = fleet(budget: nil)
        _ = fleet.acquire("a", now: start)
        _ = fleet.acquire("a", now: start)
        fleet.loadFailed("a")
        #expect(fleet.models["a"]?.holders == 0)
        let r20 = fleet.acquire("a", now: start)
        #expect(r20 == .load(.disk, unload: [], dropSnapshots: []))
    }
}
