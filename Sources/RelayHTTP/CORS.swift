// CORS: which browser origins may call the relay (docs/API.md, CORS), and the preflight answer.
public struct CORSPolicy: Sendable {
    /// Allowed origins; "*" allows any. Empty: no CORS headers at all.
    public var allowedOrigins: [String]

    public init(allowedOrigins: [String]) { self.allowedOrigins = allowedOrigins }

    // X-Peek-Settled, X-Trigger-Source and Trigger-Version: the Trigger.dev SDK's browser transport.
    static let allowedHeaders = "Authorization, Content-Type, Last-Event-ID, Timeout-Seconds, X-Part-Id, X-Peek-Settled, X-Trigger-Source, Trigger-Version"
    static let exposedHeaders = "X-Relay-First-Id, X-Relay-Node, X-Request-Id, X-Last-Event-Id, X-Session-Settled, X-Stream-Version"

    func allowedOrigin(_ origin: String?) -> String? {
        guard let origin else { return nil }
        if allowedOrigins.contains("*") { return "*" }
        return allowedOrigins.contains(origin) ? origin : nil
    }

    func responseHeaders(origin: String?) -> [(String, String)] {
        guard let allowed = allowedOrigin(origin) else { return [] }
        var headers = [("Access-Control-Allow-Origin", allowed), ("Access-Control-Expose-Headers", CORSPolicy.exposedHeaders)]
        if allowed != "*" { headers.append(("Vary", "Origin")) }
        return headers
    }

    func preflightHeaders(origin: String?, allowMethods: [String]) -> [(String, String)] {
        guard allowedOrigin(origin) != nil else { return [] }
        return responseHeaders(origin: origin) + [
            ("Access-Control-Allow-Methods", (allowMethods + ["OPTIONS"]).joined(separator: ", ")),
            ("Access-Control-Allow-Headers", CORSPolicy.allowedHeaders),
            ("Access-Control-Max-Age", "600"),
        ]
    }
}
