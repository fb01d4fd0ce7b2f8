// APIError.swift — an HTTP status with a human readable message; the one error type that
// handlers map to responses (`{"error":"<message>"}`).

public struct APIError: Error, Equatable, Sendable {
    public let status: Int
    public let message: String

    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public static func badRequest(_ m: String) -> APIError { APIError(400, m) }
    public static func unauthorized(_ m: String) -> APIError { APIError(401, m) }
    public static func forbidden(_ m: String) -> APIError { APIError(403, m) }
    public static func notFound(_ m: String) -> APIError { APIError(404, m) }
    public static func methodNotAllowed(_ m: String) -> APIError { APIError(405, m) }
    public static func conflict(_ m: String) -> APIError { APIError(409, m) }
    public static func payloadTooLarge(_ m: String) -> APIError { APIError(413, m) }
    public static func unprocessable(_ m: String) -> APIError { APIError(422, m) }
    public static func internalError(_ m: String) -> APIError { APIError(500, m) }
    public static func serviceUnavailable(_ m: String) -> APIError { APIError(503, m) }

    /// `{"error":"<message>"}`
    public var bodyJSON: String {
        "{\"error\":" + jsonQuoted(message) + "}"
    }
}
