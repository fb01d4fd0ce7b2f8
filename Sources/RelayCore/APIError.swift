// APIError.swift — an HTTP status with a human readable message; the one error type that
// handlers map to responses (`{"error":"<message>"}`). `detail` is the internal cause of a
// server-side failure (a Redis reply, a corrupt row): it is logged with the request id and
// never sent, so clients do not see script names, hashes or server state.

public struct APIError: Error, Equatable, Sendable {
    public let status: Int
    public let message: String
    public let detail: String?

    public init(_ status: Int, _ message: String, detail: String? = nil) {
        self.status = status
        self.message = message
        self.detail = detail
    }

    public static func badRequest(_ m: String) -> APIError { APIError(400, m) }
    public static func unauthorized(_ m: String) -> APIError { APIError(401, m) }
    public static func forbidden(_ m: String) -> APIError { APIError(403, m) }
    public static func notFound(_ m: String) -> APIError { APIError(404, m) }
    public static func methodNotAllowed(_ m: String) -> APIError { APIError(405, m) }
    public static func conflict(_ m: String) -> APIError { APIError(409, m) }
    public static func payloadTooLarge(_ m: String) -> APIError { APIError(413, m) }
    public static func unprocessable(_ m: String) -> APIError { APIError(422, m) }
    /// A 500 that says only "Internal error"; `detail` goes to the log.
    public static func internalError(_ detail: String) -> APIError { APIError(500, internalErrorMessage, detail: detail) }
    public static func serviceUnavailable(_ m: String, detail: String? = nil) -> APIError { APIError(503, m, detail: detail) }

    public static let internalErrorMessage = "Internal error"

    /// `{"error":"<message>"}`
    public var bodyJSON: String {
        "{\"error\":" + jsonQuoted(message) + "}"
    }
}
