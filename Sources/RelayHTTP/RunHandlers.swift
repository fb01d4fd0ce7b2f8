// RunHandlers: POST /api/v1/runs/{run}/complete (docs/API.md, Runs).
import RelayCore
import RelayIO

extension RelayServer {
    func completeRun(_ exchange: HTTPExchange, _ runId: String) {
        guard let principal = principal(exchange) else { return }
        if let denied = authorize(principal, .completeRun) { return respondError(exchange, denied) }
        store.completeRun(in: principal.environment, runId) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error): self.respondError(exchange, error)
            case .success(let sessionId):
                var w = JSONObjectWriter()
                w.string("id", runId)
                w.string("sessionId", sessionId)
                w.string("status", "COMPLETED")
                self.respondJSON(exchange, 200, w.finish())
            }
        }
    }
}
