// RelayAPI+Channels.swift: the channel endpoints of docs/API.md, Channels as plain calls.

import Foundation

extension RelayAPI {
    static func channelPath(_ session: String, _ io: String) -> String {
        "/realtime/v1/sessions/\(HTTPClient.escapePathSegment(session))/\(io)"
    }

    func append(_ session: String, _ io: String, _ body: String, partId: String? = nil) throws -> HTTPResponse {
        try append(session, io, Data(body.utf8), partId: partId)
    }

    func append(_ session: String, _ io: String, _ body: Data, partId: String? = nil) throws -> HTTPResponse {
        try http.request("POST", Self.channelPath(session, io) + "/append",
                         headers: partId.map { [("X-Part-Id", $0)] } ?? [], body: body)
    }

    func control(_ session: String, _ body: JSON) throws -> HTTPResponse {
        try http.request("POST", Self.channelPath(session, "out") + "/control", json: body)
    }

    func drain(_ session: String, _ io: String, query: [(String, String)] = []) throws -> HTTPResponse {
        try http.request("GET", HTTPClient.path(Self.channelPath(session, io) + "/records", query: query))
    }

    /// Opens an SSE stream with this API's credentials plus `headers`.
    func subscribe(_ session: String, _ io: String, headers: [(String, String)] = [], query: [(String, String)] = [],
                   timeout: TimeInterval = 10) throws -> SSEConnection {
        let auth = bearer.map { [("Authorization", "Bearer \($0)")] } ?? []
        return try SSEConnection.open(port: port, path: HTTPClient.path(Self.channelPath(session, io), query: query),
                                      headers: auth + headers, timeout: timeout)
    }

    /// Creates a session and returns its friendly id.
    func newSession(externalId: String? = nil, extra: [String: JSON] = [:]) throws -> String {
        var body: [String: JSON] = ["type": "chat.agent", "taskIdentifier": "echo"]
        if let externalId { body["externalId"] = .string(externalId) }
        for (k, v) in extra { body[k] = v }
        let response = try createSession(.object(body))
        guard response.status == 201, let id = try response.json()["id"]?.stringValue else {
            throw HarnessError("create failed: \(response)")
        }
        return id
    }
}
