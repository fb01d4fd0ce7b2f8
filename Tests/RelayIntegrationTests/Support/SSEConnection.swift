// SSEConnection.swift: a Server-Sent Events client for the channel tests.
//
// `open` sends a GET and reads the status line and headers (the relay flushes them at once,
// before any record exists). Then `nextEvent(timeout:)` returns events one by one as they
// arrive, decoding chunked transfer encoding; it returns nil once the server ended the
// response. Comment lines (`: ping`) are kept: a block made only of comments comes back as
// an event whose `comments` is set and whose data is nil.
// One connection, one thread.

import Foundation

/// One dispatched SSE block.
struct SSEEvent: Equatable, CustomStringConvertible {
    var id: String?
    var event: String?
    /// The `data:` lines joined with "\n"; nil when the block had none.
    var data: String?
    var retry: String?
    var comments: [String] = []

    var isCommentOnly: Bool { data == nil && id == nil && event == nil && retry == nil && !comments.isEmpty }
    /// No record, no event: comments (pings) and the stream's opening `retry:` only.
    var carriesNoEvent: Bool { data == nil && id == nil && event == nil }

    /// `data` parsed as JSON.
    func json() throws -> JSON {
        guard let data else { throw HarnessError("SSE event has no data: \(self)") }
        return try JSON(parsing: data)
    }

    var description: String {
        var parts: [String] = []
        if let id { parts.append("id=\(id)") }
        if let event { parts.append("event=\(event)") }
        if let data { parts.append("data=\(data)") }
        if !comments.isEmpty { parts.append("comments=\(comments)") }
        return "SSEEvent(\(parts.joined(separator: ", ")))"
    }
}

final class SSEConnection {
    let status: Int
    let headers: HTTPHeaders
    private let socket: TCPSocket
    private let body: HTTPBodyReader
    private var pending: [UInt8] = []
    private(set) var ended = false

    private init(status: Int, headers: HTTPHeaders, socket: TCPSocket, body: HTTPBodyReader) {
        self.status = status
        self.headers = headers
        self.socket = socket
        self.body = body
    }

    deinit { socket.close() }

    /// Opens `GET path` and reads the response head within `timeout`.
    static func open(host: String = "127.0.0.1", port: UInt16, path: String, headers: [(String, String)] = [],
                     timeout: TimeInterval = 10) throws -> SSEConnection {
        let deadline = Deadline.after(timeout)
        let socket = try TCPSocket.open(host: host, port: port, timeout: timeout)
        var text = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nAccept: text/event-stream\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        try socket.send(Array(text.utf8), deadline: deadline)
        let reader = BufferedReader(socket: socket)
        let head = try HTTPResponseHead.read(from: reader, deadline: deadline)
        let body = HTTPBodyReader(reader: reader, framing: head.bodyFraming(requestMethod: "GET"))
        return SSEConnection(status: head.status, headers: head.headers, socket: socket, body: body)
    }

    /// The next event, or nil when the stream ended. Throws if none arrives within `timeout`.
    func nextEvent(timeout: TimeInterval = 10) throws -> SSEEvent? {
        let deadline = Deadline.after(timeout)
        var event = SSEEvent()
        var dataLines: [String] = []
        var hasContent = false
        while true {
            guard let line = try nextLine(deadline: deadline, waited: timeout) else {
                return nil  // an unterminated block at the end is discarded, as browsers do
            }
            if line.isEmpty {
                guard hasContent else { continue }
                if !dataLines.isEmpty { event.data = dataLines.joined(separator: "\n") }
                return event
            }
            hasContent = true
            if line.hasPrefix(":") {
                event.comments.append(String(line.dropFirst()).trimmingLeadingSpace())
                continue
            }
            let field: String
            let value: String
            if let colon = line.firstIndex(of: ":") {
                field = String(line[..<colon])
                value = String(line[line.index(after: colon)...]).trimmingLeadingSpace()
            } else {
                field = line
                value = ""
            }
            switch field {
            case "data": dataLines.append(value)
            case "id": event.id = value
            case "event": event.event = value
            case "retry": event.retry = value
            default: break
            }
        }
    }

    /// The next event that is not a comment-only or retry-only block (pings and the opening
    /// `retry:` are skipped).
    func nextDataEvent(timeout: TimeInterval = 10) throws -> SSEEvent? {
        let deadline = Deadline.after(timeout)
        while true {
            let remaining = Double(deadline.pollMilliseconds) / 1000
            guard let event = try nextEvent(timeout: remaining) else { return nil }
            if !event.carriesNoEvent { return event }
        }
    }

    /// The rest of the body as bytes (for non-200 answers, or to drain a finished stream).
    func readRemainingBody(timeout: TimeInterval = 10) throws -> Data {
        var bytes = pending
        pending = []
        bytes += try body.readAll(deadline: Deadline.after(timeout))
        ended = true
        return Data(bytes)
    }

    func close() { socket.close() }

    /// One line of the event stream (LF, CRLF or CR terminated), or nil at the end of the body.
    private func nextLine(deadline: Deadline, waited: TimeInterval) throws -> String? {
        while true {
            if let end = pending.firstIndex(where: { $0 == 10 || $0 == 13 }) {
                var consumed = end + 1
                if pending[end] == 13 {
                    // CR LF is one terminator; a CR at the end of the buffer may still be followed by LF.
                    if end + 1 == pending.count, !ended {
                        if try !readMore(deadline: deadline, waited: waited) { ended = true }
                        continue
                    }
                    if end + 1 < pending.count, pending[end + 1] == 10 { consumed += 1 }
                }
                let line = String(decoding: pending[..<end], as: UTF8.self)
                pending.removeFirst(consumed)
                return line
            }
            if ended { return nil }
            if try !readMore(deadline: deadline, waited: waited) {
                ended = true
            }
        }
    }

    private func readMore(deadline: Deadline, waited: TimeInterval) throws -> Bool {
        do {
            guard let bytes = try body.next(deadline: deadline) else { return false }
            pending.append(contentsOf: bytes)
            return true
        } catch let error as HarnessError where deadline.hasPassed {
            throw HarnessError("no complete SSE event within \(waited) s (\(error))")
        }
    }
}

private extension String {
    func trimmingLeadingSpace() -> String { hasPrefix(" ") ? String(dropFirst()) : self }
}
