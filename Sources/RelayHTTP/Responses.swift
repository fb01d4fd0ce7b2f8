// Responses: JSON answers and errors, with the headers every response carries (CORS).
import RelayCore
import RelayIO

extension RelayServer {
    /// Headers every response carries: CORS (when the origin is allowed) and the node's name.
    func commonHeaders(_ exchange: HTTPExchange) -> [(String, String)] {
        cors.responseHeaders(origin: exchange.header("Origin")) + [("X-Relay-Node", nodeName)]
    }

    func respondJSON(_ exchange: HTTPExchange, _ status: Int, _ json: String, extraHeaders: [(String, String)] = []) {
        var headers = [("Content-Type", "application/json; charset=utf-8")] + extraHeaders
        headers += commonHeaders(exchange)
        metrics.responded(status: status)
        exchange.respond(status: status, headers: headers, body: Array(json.utf8))
    }

    func respondError(_ exchange: HTTPExchange, _ error: APIError, extraHeaders: [(String, String)] = []) {
        respondJSON(exchange, error.status, error.bodyJSON, extraHeaders: extraHeaders)
    }

    /// Channel appends answer errors as {"ok": false, "error": "..."}.
    func respondAppendError(_ exchange: HTTPExchange, _ error: APIError) {
        var w = JSONObjectWriter()
        w.bool("ok", false)
        w.string("error", error.message)
        respondJSON(exchange, error.status, w.finish())
    }

    func respondText(_ exchange: HTTPExchange, _ status: Int, _ contentType: String, _ body: String) {
        metrics.responded(status: status)
        exchange.respond(status: status, headers: [("Content-Type", contentType)] + commonHeaders(exchange),
                         body: Array(body.utf8))
    }
}
