// StatusHandlers: GET /status (page), /status.json and /status/stream (every node's heartbeat).
import RelayCore
import RelayIO

extension RelayServer {
    func serveStatusPage(_ exchange: HTTPExchange) {
        respondError(exchange, .notFound("Not built yet"))
    }

    func serveStatusJSON(_ exchange: HTTPExchange) {
        respondError(exchange, .notFound("Not built yet"))
    }

    func serveStatusStream(_ exchange: HTTPExchange) {
        respondError(exchange, .notFound("Not built yet"))
    }
}
