/// Counts a request as in flight from its creation until it is released: when the handler returns,
/// or, for a stream, when the body closure that holds it has written the last byte.
final class InFlightTicket: Sendable {
    private let simulator: ProviderSimulator

    init(_ simulator: ProviderSimulator) {
        self.simulator = simulator
        simulator.state.withLock { $0.enter() }
    }

    deinit {
        simulator.state.withLock { $0.leave() }
    }
}
