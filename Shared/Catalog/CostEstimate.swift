import Contracts

extension ModelCatalog {
    /// What a request may cost at most, before any model is called: every call it can make
    /// (pool, each debate round, the judge) at its most expensive provider, prompts counted at
    /// 4 bytes a token rounded up, outputs at `max_tokens`, local models at `localTokensPerSecond`.
    public func estimate(_ request: FusionRequest, localTokensPerSecond: Int64 = 50) -> Money {
        let promptTokens = request.messages.reduce(0) { $0 + ($1.content.utf8.count + 3) / 4 + 4 }
        let output = request.options.maxTokens
        var total = Money.zero
        func add(_ reference: String, prompt: Int, output: Int) {
            let (id, pinned) = ModelCall.splitReference(reference)
            guard let model = models[id] else { return }
            switch model.placement {
            case .local(let local):
                let nanos = Int64(prompt + output) * 1_000_000_000 / localTokensPerSecond
                total += Pricing.cost(deviceNanos: nanos, pricePerSecond: local.pricePerDeviceSecond)
            case .remote(let routes):
                let usable = routes.filter { pinned == nil || $0.provider == pinned }
                total += usable.map { Pricing.cost(of: TokenUsage(promptTokens: prompt, completionTokens: output), at: $0.price) }.max() ?? .zero
            }
        }
        for model in request.pool { add(model, prompt: promptTokens, output: output) }
        if request.mode == .debate {
            let revisePrompt = promptTokens + output * request.pool.count
            for _ in 0..<request.options.rounds { for model in request.pool { add(model, prompt: revisePrompt, output: output) } }
        }
        if let judge = request.judge {
            add(judge, prompt: promptTokens + output * request.pool.count + 200, output: request.mode == .merge ? output : 96)
        }
        return total
    }
}
