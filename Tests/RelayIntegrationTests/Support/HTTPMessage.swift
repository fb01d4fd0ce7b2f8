// HTTPMessage.swift: reading HTTP/1.1 responses off a BufferedReader.
//
// `HTTPHeaders` (ordered, case-insensitive lookup), `HTTPResponseHead` (status line and
// headers, interim 1xx responses skipped) and `HTTPBodyReader`, which yields the body in
// pieces as they arrive whatever the framing: Content-Length, chunked, or until close.
// HTTPClient reads whole bodies with it; SSEConnection reads a stream incrementally.

import Foundation

/// Header fields in arrival order; lookups ignore case.
struct HTTPHeaders: CustomStringConvertible {
    var fields: [(name: String, value: String)] = []

    /// The first value of `name`, or nil.
    subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Every value of `name`, in order.
    func values(_ name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    /// Comma-separated list values of `name` (e.g. `Allow: GET, POST`), trimmed.
    func listValues(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
    }

    var description: String { fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n") }
}

/// The status line and headers of a response.
struct HTTPResponseHead {
    var status: Int
    var reason: String
    var headers: HTTPHeaders

    /// Reads a response head; skips 1xx interim responses. Throws if the connection closes
    /// first or the status line is not HTTP.
    static func read(from reader: BufferedReader, deadline: Deadline) throws -> HTTPResponseHead {
        while true {
            guard let statusLine = try reader.readLine(deadline: deadline) else {
                throw HarnessError("connection to \(reader.socket.peer) closed before a response")
            }
            let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
                throw HarnessError("not an HTTP status line: \(statusLine.debugDescription)")
            }
            var headers = HTTPHeaders()
            while true {
                guard let line = try reader.readLine(deadline: deadline) else {
                    throw HarnessError("connection to \(reader.socket.peer) closed inside the response head")
                }
                if line.isEmpty { break }
                guard let colon = line.firstIndex(of: ":") else {
                    throw HarnessError("malformed header line: \(line.debugDescription)")
                }
                let name = String(line[..<colon])
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers.fields.append((name, value))
            }
            if (100..<200).contains(status) { continue }
            return HTTPResponseHead(status: status, reason: parts.count > 2 ? String(parts[2]) : "", headers: headers)
        }
    }

    /// How the body that follows this head is delimited (RFC 9112 section 6.3).
    func bodyFraming(requestMethod: String) -> HTTPBodyReader.Framing {
        if requestMethod == "HEAD" || status == 204 || status == 304 { return .empty }
        if let encoding = headers["Transfer-Encoding"], encoding.lowercased().contains("chunked") { return .chunked }
        if let length = headers["Content-Length"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            return .contentLength(length)
        }
        return .untilClose
    }
}

/// Yields a response body piece by piece, decoding chunked transfer encoding.
final class HTTPBodyReader {
    enum Framing: Equatable {
        case empty
        case contentLength(Int)
        case chunked
        case untilClose
    }

    private let reader: BufferedReader
    private let framing: Framing
    private var remainingInPiece: Int
    private var finished = false
    private var chunkOpen = false

    init(reader: BufferedReader, framing: Framing) {
        self.reader = reader
        self.framing = framing
        switch framing {
        case .contentLength(let length): remainingInPiece = length
        default: remainingInPiece = 0
        }
        if framing == .empty || framing == .contentLength(0) { finished = true }
    }

    /// The next bytes of the body, or nil once it is complete. Throws on timeout or if the
    /// connection ends before a Content-Length or chunked body does.
    func next(deadline: Deadline) throws -> [UInt8]? {
        if finished { return nil }
        switch framing {
        case .empty:
            return nil
        case .contentLength:
            guard let bytes = try reader.readSome(maxBytes: remainingInPiece, deadline: deadline) else {
                throw HarnessError("connection closed with \(remainingInPiece) body bytes missing")
            }
            remainingInPiece -= bytes.count
            if remainingInPiece == 0 { finished = true }
            return bytes
        case .untilClose:
            guard let bytes = try reader.readSome(maxBytes: 65_536, deadline: deadline) else {
                finished = true
                return nil
            }
            return bytes
        case .chunked:
            if remainingInPiece == 0 {
                if chunkOpen {
                    // The CRLF that ends the previous chunk's data.
                    guard let end = try reader.readLine(deadline: deadline), end.isEmpty else {
                        throw HarnessError("chunked body: missing CRLF after chunk data")
                    }
                    chunkOpen = false
                }
                guard let sizeLine = try reader.readLine(deadline: deadline) else {
                    throw HarnessError("chunked body: connection closed before the last chunk")
                }
                let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw HarnessError("chunked body: bad chunk size line \(sizeLine.debugDescription)")
                }
                if size == 0 {
                    // Trailer fields, then the empty line.
                    while let trailer = try reader.readLine(deadline: deadline), !trailer.isEmpty {}
                    finished = true
                    return nil
                }
                remainingInPiece = size
                chunkOpen = true
            }
            guard let bytes = try reader.readSome(maxBytes: remainingInPiece, deadline: deadline) else {
                throw HarnessError("chunked body: connection closed inside a chunk")
            }
            remainingInPiece -= bytes.count
            return bytes
        }
    }

    /// The rest of the body.
    func readAll(deadline: Deadline) throws -> [UInt8] {
        var body: [UInt8] = []
        while let piece = try next(deadline: deadline) { body.append(contentsOf: piece) }
        return body
    }
}
