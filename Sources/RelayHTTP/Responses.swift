// Responses: JSON answers and errors, with the headers every response carries (CORS).
import RelayCore
import RelayIO

extension RelayServer {
    func respondJSON(_ exchange: HTTPExchange, _ status: Int, _ json: String, extraHeaders: [(String, String)] = []) {
        var headers = [("Content-Type", "application/json; charset=utf-8")] + extraHeaders
        headers += cors.responseHeaders(origin: exchange.header("Origin"))
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
        exchange.respond(status: status, headers: [("Content-Type", contentType)] + cors.responseHeaders(origin: exchange.header("Origin")),
                         body: Array(body.utf8))
    }
}
