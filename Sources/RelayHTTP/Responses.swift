// Responses: JSON answers and errors, with the headers every response carries (CORS); server-side
// failures carry a request id that is also logged with their cause.
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
        var w = JSONObjectWriter()
        w.string("error", error.message)
        respondFailure(exchange, error, w, extraHeaders)
    }

    /// Channel appends answer errors as {"ok": false, "error": "..."}.
    func respondAppendError(_ exchange: HTTPExchange, _ error: APIError) {
        var w = JSONObjectWriter()
        w.bool("ok", false)
        w.string("error", error.message)
        respondFailure(exchange, error, w, [])
    }

    /// A server-side failure (5xx) gets a request id, in the body ("requestId") and in
    /// X-Request-Id, and its internal cause is logged with that id: an operator can match a
    /// user's report to the cause, which the client never sees.
    private func respondFailure(_ exchange: HTTPExchange, _ error: APIError, _ body: JSONObjectWriter,
                                _ extraHeaders: [(String, String)]) {
        var body = body
        var headers = extraHeaders
        if error.status >= 500 {
            let requestId = FriendlyID.request()
            body.string("requestId", requestId)
            headers.append(("X-Request-Id", requestId))
            if let detail = error.detail {
                // Path only: query strings may carry tokens.
                logger.error("request failed", metadata: [
                    "requestId": "\(requestId)", "status": "\(error.status)", "method": "\(exchange.method.rawValue)",
                    "path": "\(exchange.path)", "cause": "\(detail)",
                ])
            }
        }
        respondJSON(exchange, error.status, body.finish(), extraHeaders: headers)
    }

    func respondText(_ exchange: HTTPExchange, _ status: Int, _ contentType: String, _ body: String) {
        metrics.responded(status: status)
        exchange.respond(status: status, headers: [("Content-Type", contentType)] + commonHeaders(exchange),
                         body: Array(body.utf8))
    }
}
