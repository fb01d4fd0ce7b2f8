// StatusHandlers: GET /status (page), /status.json and /status/stream (every node's heartbeat).
//
// Who may see it: /status is an HTML shell with no data and is open. The data routes need
// either one of the environments' secret keys, as `Authorization: Bearer <key>`, or the
// configured status token (`statusToken`, RELAY_STATUS_TOKEN), in that header or as
// `?token=<status token>` (EventSource cannot send headers; a secret key is never taken from a
// URL, where proxies and browsers log it). A public (session) token never opens them, whatever
// its scopes: they show the whole deployment, not one session. Everything else is a 401.
import RelayCore
import RelayIO

extension RelayServer {
    func serveStatusPage(_ exchange: HTTPExchange) {
        metrics.responded(status: 200)
        exchange.respond(status: 200, headers: [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            // The page runs only its own inline script and talks only to this origin; the token
            // in its URL is never sent on as a Referer.
            ("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                + "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
        ] + commonHeaders(exchange), body: Array(StatusPage.html.utf8))
    }

    func serveStatusJSON(_ exchange: HTTPExchange) {
        guard let board = status else { return respondError(exchange, .notFound("Status is not enabled on this node")) }
        if let denied = statusAccessDenied(exchange, board.settings) { return respondError(exchange, denied) }
        board.readForJSON { [weak self] body in
            guard let self else { return }
            guard let body else { return self.respondError(exchange, .serviceUnavailable("Redis is unavailable")) }
            self.metrics.responded(status: 200)
            exchange.respond(status: 200, headers: [("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store")]
                                + self.commonHeaders(exchange), body: body)
        }
    }

    func serveStatusStream(_ exchange: HTTPExchange) {
        guard let board = status else { return respondError(exchange, .notFound("Status is not enabled on this node")) }
        if let denied = statusAccessDenied(exchange, board.settings) { return respondError(exchange, denied) }
        board.open(exchange, headers: commonHeaders(exchange),
                   refuse: { respondError(exchange, $0) },
                   started: { metrics.responded(status: 200) })
    }

    static let statusCredentialsMissing = APIError.unauthorized(
        "Status needs credentials: Authorization: Bearer <secret key or status token>, or ?token=<status token>")
    static let statusPublicTokenRefused = APIError.unauthorized(
        "Status needs a secret key or the status token; a public token is not accepted")
    static let statusCredentialsInvalid = APIError.unauthorized("Invalid secret key or status token")

    /// nil when the caller may read status data; else the 401 to answer.
    func statusAccessDenied(_ exchange: HTTPExchange, _ settings: StatusSettings) -> APIError? {
        if let header = exchange.header("Authorization") {
            guard let credential = Authenticator.bearerCredential(header) else { return Authenticator.malformedHeader }
            if !settings.token.isEmpty && Self.constantTimeEqual(credential, settings.token) { return nil }
            switch authenticator.authenticate(authorization: header, queryToken: nil, nowSeconds: Clock.nowSeconds()) {
            case .success(let principal): return principal.isSecretKey ? nil : Self.statusPublicTokenRefused
            case .failure: return Self.statusCredentialsInvalid
            }
        }
        guard let query = exchange.query,
              let token = QueryString.parse(query).first(where: { $0.0 == "token" })?.1, !token.isEmpty else {
            return Self.statusCredentialsMissing
        }
        // In a URL only the status token counts.
        return !settings.token.isEmpty && Self.constantTimeEqual(token, settings.token) ? nil : Self.statusCredentialsInvalid
    }


    /// Compares without stopping at the first difference (the time taken says only the length).
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<x.count { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
