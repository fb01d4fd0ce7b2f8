// RelayAPI.swift: the relay's HTTP API (docs/API.md, Sessions and Runs) as plain calls.
//
// Returns raw `HTTPResponse`s: status checks belong to the tests. `bearer` is sent as
// `Authorization: Bearer <bearer>` on every call (nil: no Authorization header).

import Foundation

struct RelayAPI {
    let port: UInt16
    let bearer: String?

    init(port: UInt16, bearer: String?) {
        self.port = port
        self.bearer = bearer
    }

    var http: HTTPClient {
        HTTPClient(port: port, defaultHeaders: bearer.map { [("Authorization", "Bearer \($0)")] } ?? [])
    }

    /// The same relay with other credentials.
    func authorized(_ bearer: String?) -> RelayAPI { RelayAPI(port: port, bearer: bearer) }

    static let sessionsPath = "/api/v1/sessions"

    static func sessionPath(_ session: String) -> String {
        "\(sessionsPath)/\(HTTPClient.escapePathSegment(session))"
    }

    static func runCompletePath(_ run: String) -> String {
        "/api/v1/runs/\(HTTPClient.escapePathSegment(run))/complete"
    }

    func createSession(_ body: JSON) throws -> HTTPResponse {
        try http.request("POST", Self.sessionsPath, json: body)
    }

    func retrieveSession(_ session: String) throws -> HTTPResponse {
        try http.request("GET", Self.sessionPath(session))
    }

    func updateSession(_ session: String, _ body: JSON) throws -> HTTPResponse {
        try http.request("PATCH", Self.sessionPath(session), json: body)
    }

    /// Closes with `body` as JSON, or with no body at all when nil.
    func closeSession(_ session: String, _ body: JSON? = nil) throws -> HTTPResponse {
        let path = Self.sessionPath(session) + "/close"
        if let body { return try http.request("POST", path, json: body) }
        return try http.request("POST", path)
    }

    /// `query` pairs are escaped (`page[size]` goes out as `page%5Bsize%5D`).
    func listSessions(_ query: [(String, String)] = []) throws -> HTTPResponse {
        try http.request("GET", HTTPClient.path(Self.sessionsPath, query: query))
    }

    func completeRun(_ run: String) throws -> HTTPResponse {
        try http.request("POST", Self.runCompletePath(run))
    }
}
