// HTTPClient.swift: a small blocking HTTP/1.1 client on POSIX sockets.
//
// One connection per request (`Connection: close`), every wait bounded by the timeout
// (default 10 s). `request` sends a body with Content-Length, `requestChunked` with
// `Transfer-Encoding: chunked`, `sendRaw` sends bytes as given. All return an
// `HTTPResponse`. If the server answers and closes before the whole request was sent (a 413),
// the send error is kept and the response read anyway.
// A value type with no shared state: safe to use from many threads at once.

import Foundation

/// A complete response.
struct HTTPResponse: CustomStringConvertible {
    var status: Int
    var headers: HTTPHeaders
    var body: Data

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as JSON; throws with the body in the message if it is not JSON.
    func json() throws -> JSON {
        do {
            return try JSON(parsing: body)
        } catch {
            throw HarnessError("HTTP \(status) body is not JSON: \(text.prefix(500).debugDescription)")
        }
    }

    /// `error` of a `{"error": "..."}` body, if the body has that shape.
    var errorMessage: String? { (try? json())?["error"]?.stringValue }

    /// Status and (truncated) body: the thing to print next to a failed status assertion.
    var description: String {
        let shown = text.count > 800 ? String(text.prefix(800)) + "…" : text
        return "HTTP \(status) \(shown)"
    }
}

struct HTTPClient {
    let host: String
    let port: UInt16
    /// Sent with every request unless the request names the same header.
    var defaultHeaders: [(String, String)] = []
    var timeout: TimeInterval = 10

    init(host: String = "127.0.0.1", port: UInt16, defaultHeaders: [(String, String)] = [], timeout: TimeInterval = 10) {
        self.host = host
        self.port = port
        self.defaultHeaders = defaultHeaders
        self.timeout = timeout
    }

    /// Sends one request with an optional body (Content-Length framed) and reads the response.
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: Data? = nil,
                 timeout: TimeInterval? = nil) throws -> HTTPResponse {
        var allHeaders = merged(headers)
        let hasFraming = allHeaders.contains { ["content-length", "transfer-encoding"].contains($0.0.lowercased()) }
        if !hasFraming, body != nil || ["POST", "PUT", "PATCH"].contains(method) {
            allHeaders.append(("Content-Length", String(body?.count ?? 0)))
        }
        var bytes = head(method, path, allHeaders)
        if let body { bytes.append(contentsOf: body) }
        return try exchange(bytes, method: method, timeout: timeout ?? self.timeout)
    }

    /// Sends a JSON body (`Content-Type: application/json`).
    func request(_ method: String, _ path: String, headers: [(String, String)] = [], json: JSON,
                 timeout: TimeInterval? = nil) throws -> HTTPResponse {
        try request(method, path, headers: [("Content-Type", "application/json")] + headers,
                    body: json.data, timeout: timeout)
    }

    /// Sends the body with `Transfer-Encoding: chunked`, one chunk per element of `chunks`.
    func requestChunked(_ method: String, _ path: String, headers: [(String, String)] = [], chunks: [Data],
                        timeout: TimeInterval? = nil) throws -> HTTPResponse {
        var bytes = head(method, path, merged(headers) + [("Transfer-Encoding", "chunked")])
        for chunk in chunks where !chunk.isEmpty {
            bytes.append(contentsOf: Array(String(chunk.count, radix: 16).utf8) + [13, 10])
            bytes.append(contentsOf: chunk)
            bytes.append(contentsOf: [13, 10])
        }
        bytes.append(contentsOf: Array("0\r\n\r\n".utf8))
        return try exchange(bytes, method: method, timeout: timeout ?? self.timeout)
    }

    /// Sends `bytes` exactly as given (the caller writes the whole request) and reads the response.
    func sendRaw(_ bytes: [UInt8], method: String = "GET", timeout: TimeInterval? = nil) throws -> HTTPResponse {
        try exchange(bytes, method: method, timeout: timeout ?? self.timeout)
    }

    // MARK: Paths

    /// Characters left as they are in a path segment: RFC 3986 unreserved plus ":" and "@".
    private static let pathSegmentAllowed = CharacterSet(charactersIn:
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:@")
    /// Characters left as they are in a query name or value: unreserved plus "," and ":".
    /// Brackets are escaped, as browsers' URLSearchParams and the SDK do.
    private static let queryAllowed = CharacterSet(charactersIn:
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~,:")

    static func escapePathSegment(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: pathSegmentAllowed) ?? segment
    }

    static func escapeQueryComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: queryAllowed) ?? text
    }

    /// `path?name=value&...` with names and values escaped.
    static func path(_ path: String, query: [(String, String)]) -> String {
        guard !query.isEmpty else { return path }
        let pairs = query.map { "\(escapeQueryComponent($0.0))=\(escapeQueryComponent($0.1))" }
        return path + "?" + pairs.joined(separator: "&")
    }

    // MARK: Internals

    private func merged(_ headers: [(String, String)]) -> [(String, String)] {
        let overridden = Set(headers.map { $0.0.lowercased() })
        return defaultHeaders.filter { !overridden.contains($0.0.lowercased()) } + headers
    }

    private func head(_ method: String, _ path: String, _ headers: [(String, String)]) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    private func exchange(_ bytes: [UInt8], method: String, timeout: TimeInterval) throws -> HTTPResponse {
        let deadline = Deadline.after(timeout)
        let socket = try TCPSocket.open(host: host, port: port, timeout: timeout)
        defer { socket.close() }
        var sendError: Error?
        do {
            try socket.send(bytes, deadline: deadline)
        } catch {
            sendError = error  // the server may have answered early (413) and closed
        }
        let reader = BufferedReader(socket: socket)
        do {
            let head = try HTTPResponseHead.read(from: reader, deadline: deadline)
            let body = try HTTPBodyReader(reader: reader, framing: head.bodyFraming(requestMethod: method))
                .readAll(deadline: deadline)
            return HTTPResponse(status: head.status, headers: head.headers, body: Data(body))
        } catch {
            let context = sendError.map { " (sending the request had failed too: \($0))" } ?? ""
            throw HarnessError("\(method) on \(host):\(port): \(error)\(context)")
        }
    }
}
