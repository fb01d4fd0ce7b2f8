// HTTPRequestHead from an HTTP/2 request's header fields (RFC 9113 section 8.3), checked by the
// same rules as an HTTP/1.1 head wherever they apply, so that a handler cannot tell the two
// protocols apart and neither protocol accepts what the other refuses.
//
// nghttp2 has already refused what HTTP/2 itself forbids (uppercase names, connection-specific
// fields, pseudo-header order, a mismatched content-length); this checks it all again, because
// it is cheap and this code is fuzzed on its own, and adds the relay's own rules: singleton
// fields at most once, a bounded field count, the request-target forms HTTP/1.1 allows.

extension HTTPRequestHead {
    /// Builds the head of an HTTP/2 request. `fields` are as received (pseudo-header fields
    /// first); `endStream` says that the HEADERS frame ended the stream (no body follows).
    public static func fromHTTP2(_ fields: [(name: [UInt8], value: [UInt8])], endStream: Bool) throws -> HTTPRequestHead {
        var method: String?
        var scheme: String?
        var target: String?
        var authority: [UInt8]?
        var host: [UInt8]?
        var regular: [(name: String, value: String)] = []
        var seen = Set<String>()
        guard fields.count <= maxFieldCount + 4 else { throw HTTPHeadError(431, "Too many header fields") }
        for (rawName, rawValue) in fields {
            guard let first = rawName.first else { throw HTTPHeadError(400, "Malformed header field name") }
            for b in rawValue where b == 0 || b == 0x0A || b == 0x0D || b == 0x7F || (b < 0x20 && b != 0x09) {
                throw HTTPHeadError(400, "Control character in a header value")
            }
            if first == UInt8(ascii: ":") {
                guard regular.isEmpty else { throw HTTPHeadError(400, "Pseudo-header field after a regular field") }
                let value = String(decoding: rawValue, as: UTF8.self)
                switch rawName {
                case Array(":method".utf8):
                    guard method == nil else { throw HTTPHeadError(400, "Duplicate :method") }
                    guard !rawValue.isEmpty, rawValue.allSatisfy(isTokenByte) else { throw HTTPHeadError(400, "Malformed method") }
                    method = value
                case Array(":scheme".utf8):
                    guard scheme == nil else { throw HTTPHeadError(400, "Duplicate :scheme") }
                    scheme = value
                case Array(":path".utf8):
                    guard target == nil else { throw HTTPHeadError(400, "Duplicate :path") }
                    guard !rawValue.isEmpty, rawValue.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                        throw HTTPHeadError(400, "Malformed request target")
                    }
                    target = value
                case Array(":authority".utf8):
                    guard authority == nil else { throw HTTPHeadError(400, "Duplicate :authority") }
                    authority = rawValue
                default:
                    throw HTTPHeadError(400, "Unknown pseudo-header field")
                }
                continue
            }
            guard rawName.allSatisfy({ isTokenByte($0) && !($0 >= 0x41 && $0 <= 0x5A) }) else {
                throw HTTPHeadError(400, "Malformed header field name")
            }
            let name = String(decoding: rawName, as: UTF8.self)
            if connectionSpecificFields.contains(name) {
                throw HTTPHeadError(400, "Connection-specific header field in an HTTP/2 request")
            }
            if name == "te", rawValue != Array("trailers".utf8) { throw HTTPHeadError(400, "TE other than trailers") }
            if singletonFields.contains(name), !seen.insert(name).inserted {
                throw HTTPHeadError(400, "Duplicate \(canonicalName(name)) header")
            }
            // Surrounding whitespace is not allowed in HTTP/2 (RFC 9113 section 8.2.1).
            if let b = rawValue.first, b == 0x20 || b == 0x09 { throw HTTPHeadError(400, "Whitespace around a header value") }
            if let b = rawValue.last, b == 0x20 || b == 0x09 { throw HTTPHeadError(400, "Whitespace around a header value") }
            if name == "host" { host = rawValue }
            regular.append((name, String(decoding: rawValue, as: UTF8.self)))
        }
        // :authority becomes a Host field below: it counts, as Host does in HTTP/1.1.
        guard regular.count + (authority != nil && host == nil ? 1 : 0) <= maxFieldCount else {
            throw HTTPHeadError(431, "Too many header fields")
        }
        guard let method else { throw HTTPHeadError(400, "Missing :method") }
        guard method != "CONNECT" else { throw HTTPHeadError(405, "CONNECT is not supported") }
        guard let scheme, scheme == "http" || scheme == "https" else { throw HTTPHeadError(400, "Missing or unsupported :scheme") }
        guard let target else { throw HTTPHeadError(400, "Missing :path") }
        guard target.hasPrefix("/") || (target == "*" && method == "OPTIONS") else {
            throw HTTPHeadError(400, "Malformed request target")
        }
        let (path, query) = try splitTarget(target, method: method)

        // :authority stands for Host; a Host next to it must name the same (RFC 9113 8.3.1).
        // Compared as raw bytes: String == is canonical equivalence ("\u{212A}" == "K") and
        // invalid UTF-8 has already become U+FFFD in the decoded values.
        if let authority {
            if let host, host != authority { throw HTTPHeadError(400, "Host and :authority disagree") }
            if host == nil { regular.insert(("host", String(decoding: authority, as: UTF8.self)), at: 0) }
        }
        var head = HTTPRequestHead(method: method, path: path, query: query, minorVersion: 1, fields: regular,
                                   framing: .none, keepAlive: true, expectsContinue: false)
        head.majorVersion = 2
        if let host = head.value("host"), host.isEmpty || host.utf8.contains(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x2F || $0 == 0x40 }) {
            throw HTTPHeadError(400, "Malformed Host header")
        }
        var declared: Int?
        if let length = head.value("content-length") {
            guard !length.isEmpty, length.utf8.count <= 15, length.utf8.allSatisfy(isDigit), let n = Int(length) else {
                throw HTTPHeadError(400, "Content-Length must be a plain decimal number")
            }
            declared = n
        }
        if endStream {
            if let declared, declared != 0 { throw HTTPHeadError(400, "Content-Length without a body") }
            head.framing = .none
        } else {
            head.framing = declared.map { .length($0) } ?? .streamed
        }
        if let expectation = head.value("expect"), expectation.asciiLowercased != "100-continue" {
            throw HTTPHeadError(417, "Unsupported expectation")
        }
        return head
    }

    /// Fields HTTP/2 does not carry (RFC 9113 section 8.2.2).
    public static let connectionSpecificFields: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade",
    ]
}
