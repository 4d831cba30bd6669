import Contracts

/// Exact cost arithmetic, shared by the judge (an answer's cost) and billing (the ledger).
///
/// Prices are whole nano-dollars per million tokens (or per device-second); a cost is the exact
/// product divided once, at the end, rounding half up to the nano-dollar. No floating point.
public enum Pricing {
    /// Cost of `usage` at `price`: uncached input, cached input and output, each at its own rate.
    public static func cost(of usage: TokenUsage, at price: TokenPrice) -> Money {
        let cached = Int64(min(usage.cachedPromptTokens, usage.promptTokens))
        let uncached = Int64(usage.promptTokens) - cached
        // Sum of token × nanos-per-million products, divided by one million once.
        let scaled =
            uncached * price.inputPerMillion.nanos + cached * price.cachedInputPerMillion.nanos
            + Int64(usage.completionTokens) * price.outputPerMillion.nanos
        return Money(nanos: divideRoundingHalfUp(scaled, by: 1_000_000))
    }

    /// Cost of `deviceNanos` of accelerator time at `pricePerSecond`.
    public static func cost(deviceNanos: Int64, pricePerSecond: Money) -> Money {
        // nanos × nano-dollars-per-second / 1e9 = nano-dollars; 128-bit so long runs cannot overflow.
        let product = deviceNanos.multipliedFullWidth(by: pricePerSecond.nanos)
        let (quotient, remainder) = Int64(1_000_000_000).dividingFullWidth(product)
        return Money(nanos: quotient + (remainder * 2 >= 1_000_000_000 ? 1 : 0))
    }

    static func divideRoundingHalfUp(_ value: Int64, by divisor: Int64) -> Int64 {
        let (q, r) = value.quotientAndRemainder(dividingBy: divisor)
        return r * 2 >= divisor ? q + 1 : q
    }
}

extension ModelCatalog {
    /// What one response cost: tokens at the answering provider's prices, or device time for a local
    /// model. Zero for a model or provider the catalog no longer knows (never a guess).
    public func cost(of response: ModelResponse) -> Money {
        guard let model = models[response.model] else { return .zero }
        switch model.placement {
        case .local(let local):
            return Pricing.cost(deviceNanos: response.deviceNanos ?? 0, pricePerSecond: local.pricePerDeviceSecond)
        case .remote(let routes):
            guard let route = routes.first(where: { $0.provider == response.provider }) else { return .zero }
            return Pricing.cost(of: response.usage, at: route.price)
        }
    }
}
