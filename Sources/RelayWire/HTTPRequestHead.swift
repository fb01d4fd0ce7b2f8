// HTTPRequestHead: strict parsing of an HTTP/1.x request head (RFC 9112 sections 2 to 7).
//
// The relay faces browsers and therefore the internet, and sits behind balancers that may
// read a request differently from it. Anything two parsers could disagree on is refused
// instead of guessed: duplicate or non-numeric Content-Length, Transfer-Encoding together with
// Content-Length, codings other than `chunked`, obs-fold lines, whitespace before a colon,
// control bytes (NUL, bare CR or LF, ...) in any field, HTTP/1.1 without exactly one Host,
// and a second copy of a header the relay acts on (Authorization, X-Part-Id, ...).

public struct HTTPHeadError: Error, Equatable, Sendable {
    public let status: Int
    public let message: String
    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

public struct HTTPRequestHead: Sendable, Equatable {
    public enum BodyFraming: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
        /// HTTP/2: the body is whatever DATA frames arrive before the end of the stream.
        case streamed
    }

    public var method: String
    /// The path as sent (not percent-decoded); for absolute-form targets, their path.
    public var path: String
    /// The raw query string (after "?"), or nil.
    public var query: String?
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (and for HTTP/2, whose semantics are 1.1's).
    public var minorVersion: Int
    /// 1, or 2 for a request that arrived over HTTP/2.
    public var majorVersion = 1
    /// Field names lowercased, values with surrounding whitespace removed, in order.
    public var fields: [(name: String, value: String)]
    public var framing: BodyFraming
    /// Whether the client allows the connection to be reused after this request.
    public var keepAlive: Bool
    /// `Expect: 100-continue`: the client waits for a go-ahead before sending the body.
    public var expectsContinue: Bool

    /// The first value of a field (name in lowercase), or nil.
    public func value(_ lowercasedName: String) -> String? {
        fields.first { $0.name == lowercasedName }?.value
    }

    public static func == (a: HTTPRequestHead, b: HTTPRequestHead) -> Bool {
        a.method == b.method && a.path == b.path && a.query == b.query && a.minorVersion == b.minorVersion
            && a.majorVersion == b.majorVersion
            && a.fields.map(\.name) == b.fields.map(\.name) && a.fields.map(\.value) == b.fields.map(\.value)
            && a.framing == b.framing && a.keepAlive == b.keepAlive && a.expectsContinue == b.expectsContinue
    }

    /// Fields that must appear at most once: the framing, the credentials, and every header the
    /// relay reads to decide what a request does. A second copy is a 400, never "first wins".
    public static let singletonFields: Set<String> = [
        "host", "content-length", "transfer-encoding", "authorization", "x-part-id", "last-event-id",
        "timeout-seconds", "origin", "content-type", "expect", "if-none-match", "x-peek-settled",
    ]

    /// Each of `singletonFields` with a bit of its own, so a head tracks what it has seen in one
    /// integer instead of a set of strings.
    static let singletonBits: [String: UInt32] = Dictionary(
        uniqueKeysWithValues: singletonFields.sorted().enumerated().map { ($0.element, UInt32(1) << $0.offset) })

    public static let maxFieldCount = 100

    /// Parses a head: the request line and the field lines, each ending in CRLF, without the
    /// empty line that ends the head.
    public static func parse(_ bytes: [UInt8]) throws -> HTTPRequestHead {
        var lines: [ArraySlice<UInt8>] = []
        var start = 0
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == 0x0D {
                guard i + 1 < bytes.count, bytes[i + 1] == 0x0A else {
                    throw HTTPHeadError(400, "Bare CR in request head")
                }
                lines.append(bytes[start..<i])
                i += 2
                start = i
                continue
            }
            if byte == 0x0A { throw HTTPHeadError(400, "Bare LF in request head") }
            i += 1
        }
        if start < bytes.count { lines.append(bytes[start...]) }
        guard let requestLine = lines.first else { throw HTTPHeadError(400, "Empty request") }

        var head = try parseRequestLine(requestLine)
        guard lines.count - 1 <= maxFieldCount else { throw HTTPHeadError(431, "Too many header fields") }
        var seen: UInt32 = 0
        head.fields.reserveCapacity(lines.count - 1)
        for line in lines.dropFirst() {
            let field = try parseField(line)
            if let bit = singletonBits[field.name] {
                if seen & bit != 0 { throw HTTPHeadError(400, "Duplicate \(canonicalName(field.name)) header") }
                seen |= bit
            }
            head.fields.append(field)
        }
        try head.resolveSemantics()
        return head
    }

    private static func parseRequestLine(_ line: ArraySlice<UInt8>) throws -> HTTPRequestHead {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw HTTPHeadError(400, "Malformed request line")
        }
        guard parts[0].allSatisfy(isTokenByte) else { throw HTTPHeadError(400, "Malformed method") }
        guard parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw HTTPHeadError(400, "Malformed request target")
        }
        let version = parts[2]
        let minor: Int
        if version.elementsEqual("HTTP/1.1".utf8) {
            minor = 1
        } else if version.elementsEqual("HTTP/1.0".utf8) {
            minor = 0
        } else {
            let looksLikeHTTP = version.count == 8 && version.starts(with: "HTTP/".utf8)
                && isDigit(version[version.startIndex + 5]) && version[version.startIndex + 6] == UInt8(ascii: ".")
                && isDigit(version[version.startIndex + 7])
            throw looksLikeHTTP ? HTTPHeadError(505, "HTTP version not supported")
                                : HTTPHeadError(400, "Malformed HTTP version")
        }
        let method = String(decoding: parts[0], as: UTF8.self)
        let target = parts[1]
        let (path, query): (String, String?)
        if target.first == UInt8(ascii: "/") {
            // Origin-form, the usual case, split as bytes (the target is printable ASCII, checked
            // above, so a byte is a character here).
            if let mark = target.firstIndex(of: UInt8(ascii: "?")) {
                (path, query) = (String(decoding: target[..<mark], as: UTF8.self),
                                 String(decoding: target[(mark + 1)...], as: UTF8.self))
            } else {
                (path, query) = (String(decoding: target, as: UTF8.self), nil)
            }
        } else {
            (path, query) = try splitTarget(String(decoding: target, as: UTF8.self), method: method)
        }
        return HTTPRequestHead(method: method, path: path, query: query, minorVersion: minor, fields: [],
                               framing: .none, keepAlive: minor == 1, expectsContinue: false)
    }

    /// Origin-form ("/path?query"), absolute-form ("http://host/path?query", which servers must
    /// accept) or asterisk-form ("*", OPTIONS only).
    static func splitTarget(_ target: String, method: String) throws -> (String, String?) {
        var rest = Substring(target)
        if rest == "*" {
            guard method == "OPTIONS" else { throw HTTPHeadError(400, "Malformed request target") }
            return ("*", nil)
        }
        if !rest.hasPrefix("/") {
            let lower = rest.lowercased()
            guard let schemeEnd = lower.hasPrefix("http://") ? 7 : lower.hasPrefix("https://") ? 8 : nil else {
                throw HTTPHeadError(400, "Malformed request target")
            }
            rest = rest.dropFirst(schemeEnd)
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                rest = rest[slash...]
                if rest.hasPrefix("?") { rest = "/" + rest }
            } else {
                rest = "/"
            }
        }
        if let mark = rest.firstIndex(of: "?") {
            return (String(rest[..<mark]), String(rest[rest.index(after: mark)...]))
        }
        return (String(rest), nil)
    }

    private static func parseField(_ line: ArraySlice<UInt8>) throws -> (name: String, value: String) {
        guard let first = line.first else { throw HTTPHeadError(400, "Malformed header field") }
        if first == 0x20 || first == 0x09 { throw HTTPHeadError(400, "Obsolete line folding is not accepted") }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            throw HTTPHeadError(400, "Malformed header field")
        }
        let name = line[line.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
            throw HTTPHeadError(400, "Malformed header field name")
        }
        var value = line[line.index(after: colon)...]
        while let b = value.first, b == 0x20 || b == 0x09 { value = value.dropFirst() }
        while let b = value.last, b == 0x20 || b == 0x09 { value = value.dropLast() }
        for b in value where (b < 0x20 && b != 0x09) || b == 0x7F {
            throw HTTPHeadError(400, "Control character in the \(canonicalName(String(decoding: name, as: UTF8.self).lowercased())) header")
        }
        return (String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self))
    }

    private mutating func resolveSemantics() throws {
        let hosts = fields.filter { $0.name == "host" }
        if minorVersion == 1 && hosts.isEmpty { throw HTTPHeadError(400, "HTTP/1.1 request without Host") }
        if let host = hosts.first?.value, host.utf8.contains(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x2F || $0 == 0x40 }) {
            // Bytes, not Characters: " " or "/" followed by a combining mark is one Character.
            throw HTTPHeadError(400, "Malformed Host header")
        }

        let length = value("content-length")
        if let coding = value("transfer-encoding") {
            guard minorVersion == 1 else { throw HTTPHeadError(400, "Transfer-Encoding in an HTTP/1.0 request") }
            guard length == nil else { throw HTTPHeadError(400, "Both Transfer-Encoding and Content-Length") }
            // Empty list elements (",chunked") are legal list syntax, but a proxy may read them
            // differently: refused, like every other ambiguity in the framing.
            let codings = coding.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingASCIIWhitespace().asciiLowercased }
            guard !codings.contains(ASCIIFolded(bytes: [])) else {
                throw HTTPHeadError(400, "Empty element in Transfer-Encoding")
            }
            guard codings.last == "chunked" else {
                throw codings.contains("chunked") ? HTTPHeadError(400, "chunked must be the final transfer coding")
                                                   : HTTPHeadError(501, "Unsupported transfer coding")
            }
            guard codings.count == 1 else { throw HTTPHeadError(501, "Unsupported transfer coding") }
            framing = .chunked
        } else if let length {
            guard !length.isEmpty, length.utf8.count <= 15, length.utf8.allSatisfy(Self.isDigit),
                  let n = Int(length) else {
                throw HTTPHeadError(400, "Content-Length must be a plain decimal number")
            }
            framing = n == 0 ? .none : .length(n)
        }

        var close = false
        var keep = false
        for field in fields where field.name == "connection" {
            for option in field.value.split(separator: ",") {
                switch option.trimmingASCIIWhitespace().asciiLowercased {
                case "close": close = true
                case "keep-alive": keep = true
                default: break
                }
            }
        }
        keepAlive = !close && (minorVersion == 1 || keep)

        if let expectation = value("expect") {
            guard expectation.asciiLowercased == "100-continue" else {
                throw HTTPHeadError(417, "Unsupported expectation")
            }
            expectsContinue = minorVersion == 1
        }
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
             UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
             UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// "x-part-id" -> "X-Part-Id", for messages.
    static func canonicalName(_ lowercased: String) -> String {
        lowercased.split(separator: "-", omittingEmptySubsequences: false)
            .map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: "-")
    }
}

extension StringProtocol {
    /// ASCII letters lowercased and nothing else, compared as bytes: Swift's `lowercased()`
    /// and `==` work on characters, so "chun\u{212A}ed" (Kelvin sign) would equal "chunked",
    /// which a proxy reading bytes would not agree with.
    var asciiLowercased: ASCIIFolded {
        ASCIIFolded(bytes: utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 })
    }
}

/// Bytes with ASCII letters lowercased; equal to a string literal only byte for byte.
struct ASCIIFolded: Equatable, ExpressibleByStringLiteral {
    let bytes: [UInt8]
    init(bytes: [UInt8]) { self.bytes = bytes }
    init(stringLiteral value: String) { bytes = Array(value.utf8) }
    static func ~= (pattern: ASCIIFolded, value: ASCIIFolded) -> Bool { pattern == value }
}

extension Substring {
    func trimmingASCIIWhitespace() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
