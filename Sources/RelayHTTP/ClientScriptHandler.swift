// ClientScriptHandler: GET /client.js, the browser client module (clients/js/relay-client.js).
import RelayCore
import RelayIO

extension RelayServer {
    func serveClientScript(_ exchange: HTTPExchange) {
        respondError(exchange, .notFound("Not built yet"))
    }
}
