// fuzz_http2 — HTTPRequestHead.fromHTTP2, against a byte-level reference and HTTPRequestHead.parse.
// SOURCES: HTTPRequestHead.swift HTTP2RequestHead.swift
// EXTRA: Fuzz/support/FuzzSupport.swift
//
// Input: byte 0 holds flags: bit 0 = endStream; bit 1 = append 70 + (byte 0 >> 2) filler fields
// ("x-f<i>: 1", 70 to 133 of them) after the decoded ones, so that the field-count limit is
// within reach. The rest is a list of fields, each `nameLength name valueLength value` with
// one-byte lengths (a truncated last field keeps what is there; a missing value is empty).
//
// Invariants:
//  - fromHTTP2 is deterministic (same head, or same status and message);
//  - it throws only HTTPHeadError with status 400, 405, 417 or 431; 405 only for :method
//    CONNECT, 417 only for an Expect other than 100-continue, 431 only with more fields than
//    maxFieldCount;
//  - it accepts exactly the field lists a byte-level reference reading accepts (every rule of
//    HTTP2RequestHead.swift, written again on raw bytes: no Swift String comparison), and an
//    accepted head is what the reference expects: method, path, query, fields (names and the
//    UTF-8 decoding of the raw values, Host from :authority first when there is no host field),
//    majorVersion 2, framing (.none with endStream, else .length(n) / .streamed);
//  - agreement with HTTP/1.1: every accepted head, written as an HTTP/1.1 request from the raw
//    bytes (method SP :path SP HTTP/1.1, Host from :authority when there is no host field, then
//    the regular fields), is accepted by HTTPRequestHead.parse with the same method, path, query
//    and fields. Without any Host or :authority (HTTP/2 allows that, HTTP/1.1 does not) the
//    request is written as HTTP/1.0. Framing differs by design: HTTP/1.1 has no "body until the
//    end of the stream", so HTTP/2's .streamed and .length(0) are HTTP/1.1's .none, and
//    .length(n > 0) is the same in both; with endStream both are .none.

private let maxFields = HTTPRequestHead.maxFieldCount

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
private func asciiLower(_ b: [UInt8]) -> [UInt8] { b.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 } }
private func isToken(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || bytes("!#$%&'*+-.^_`|~").contains(b)
}
private func isCTL(_ b: UInt8) -> Bool { (b < 0x20 && b != 0x09) || b == 0x7F }
private func isOWS(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }

private typealias Field = (name: [UInt8], value: [UInt8])

// MARK: Input decoding

private func decodeInput(_ input: [UInt8]) -> (fields: [Field], endStream: Bool) {
    guard let flags = input.first else { return ([], false) }
    var fields: [Field] = []
    var i = 1
    func take() -> [UInt8] {
        guard i < input.count else { return [] }
        let n = Int(input[i])
        let end = min(input.count, i + 1 + n)
        defer { i = end }
        return Array(input[(i + 1)..<end])
    }
    while i < input.count {
        let name = take()
        let value = take()
        fields.append((name, value))
    }
    if flags & 2 != 0 {
        for k in 0..<(70 + Int(flags >> 2)) { fields.append((bytes("x-f\(k)"), bytes("1"))) }
    }
    return (fields, flags & 1 != 0)
}

// MARK: Reference

private enum Framing: Equatable { case none, length(Int), streamed }

private struct Expected {
    var method: [UInt8]
    var path: [UInt8]
    var query: [UInt8]?
    var target: [UInt8]
    var fields: [Field]          // raw bytes, host first when it comes from :authority
    var hostFromAuthority: Bool
    var framing: Framing
}

/// The rules of HTTP2RequestHead.swift, on raw bytes. nil: the request must be refused.
private func reference(_ fields: [Field], endStream: Bool) -> Expected? {
    var pseudo: [[UInt8]: [UInt8]] = [:]
    var regular: [Field] = []
    for (name, value) in fields {
        guard let first = name.first else { return nil }
        if value.contains(where: isCTL) { return nil }
        if first == 0x3A {
            guard regular.isEmpty else { return nil }
            guard [":method", ":scheme", ":path", ":authority"].map(bytes).contains(name) else { return nil }
            guard pseudo[name] == nil else { return nil }
            pseudo[name] = value
            continue
        }
        guard name.allSatisfy({ isToken($0) && !($0 >= 0x41 && $0 <= 0x5A) }) else { return nil }
        if ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"].map(bytes).contains(name) { return nil }
        if name == bytes("te") && value != bytes("trailers") { return nil }
        if let f = value.first, isOWS(f) { return nil }
        if let l = value.last, isOWS(l) { return nil }
        regular.append((name, value))
    }
    for s in HTTPRequestHead.singletonFields where regular.filter({ $0.name == bytes(s) }).count > 1 { return nil }

    guard let method = pseudo[bytes(":method")], !method.isEmpty, method.allSatisfy(isToken) else { return nil }
    guard method != bytes("CONNECT") else { return nil }
    guard let scheme = pseudo[bytes(":scheme")], scheme == bytes("http") || scheme == bytes("https") else { return nil }
    guard let target = pseudo[bytes(":path")], !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
    guard target.first == 0x2F || (target == bytes("*") && method == bytes("OPTIONS")) else { return nil }
    var path = target, query: [UInt8]?
    if let q = target.firstIndex(of: 0x3F) { path = Array(target[..<q]); query = Array(target[(q + 1)...]) }

    let hostField = regular.first { $0.name == bytes("host") }
    let authority = pseudo[bytes(":authority")]
    if let hostField, let authority, hostField.value != authority { return nil }
    var all = regular
    var fromAuthority = false
    if hostField == nil, let authority { all.insert((bytes("host"), authority), at: 0); fromAuthority = true }
    guard all.count <= maxFields else { return nil }
    if let host = hostField?.value ?? authority {
        guard !host.isEmpty, !host.contains(where: { isOWS($0) || $0 == 0x2F || $0 == 0x40 }) else { return nil }
    }
    var framing = Framing.streamed
    if let cl = regular.first(where: { $0.name == bytes("content-length") })?.value {
        guard !cl.isEmpty, cl.count <= 15, cl.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let n = cl.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        if endStream && n != 0 { return nil }
        framing = .length(n)
    }
    if endStream { framing = .none }
    if let e = regular.first(where: { $0.name == bytes("expect") })?.value, asciiLower(e) != bytes("100-continue") { return nil }
    return Expected(method: method, path: path, query: query, target: target, fields: all,
                    hostFromAuthority: fromAuthority, framing: framing)
}

private func sameText(_ s: String, _ raw: [UInt8]) -> Bool {
    // The head holds the UTF-8 decoding of the raw bytes (invalid sequences become U+FFFD):
    // compare the bytes of that decoding, and the raw bytes themselves when they are ASCII.
    let decoded = String(decoding: raw, as: UTF8.self)
    return s.utf8.elementsEqual(decoded.utf8) && (raw.contains { $0 >= 0x80 } || s.utf8.elementsEqual(raw))
}

// MARK: Harness

private func run(_ fields: [Field], endStream: Bool) -> Result<HTTPRequestHead, HTTPHeadError> {
    do {
        return .success(try HTTPRequestHead.fromHTTP2(fields, endStream: endStream))
    } catch let e as HTTPHeadError {
        return .failure(e)
    } catch {
        fatalError("fromHTTP2 threw a non-HTTPHeadError: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let (fields, endStream) = decodeInput(input)
    let first = run(fields, endStream: endStream)
    let second = run(fields, endStream: endStream)
    switch (first, second) {
    case (.success(let a), .success(let b)): check(a == b, "fromHTTP2 is not deterministic", input)
    case (.failure(let a), .failure(let b)): check(a == b, "fromHTTP2 is not deterministic", input)
    default: check(false, "fromHTTP2 is not deterministic", input)
    }
    let expected = reference(fields, endStream: endStream)

    let head: HTTPRequestHead
    switch first {
    case .failure(let e):
        check([400, 405, 417, 431].contains(e.status), "unexpected status \(e.status)", input)
        check(!e.message.isEmpty, "empty message", input)
        check(expected == nil, "refused (\(e.status) \(e.message)) what the byte-level reference accepts", input)
        let method = fields.first { $0.name == bytes(":method") }?.value
        if e.status == 405 { check(method == bytes("CONNECT"), "405 without :method CONNECT", input) }
        if e.status == 417 {
            let expect = fields.first { $0.name == bytes("expect") }?.value
            check(expect.map { asciiLower($0) != bytes("100-continue") } == true, "417 without an unsupported Expect", input)
        }
        if e.status == 431 { check(fields.count > maxFields, "431 with \(fields.count) fields", input) }
        return 0
    case .success(let h):
        head = h
    }
    guard let expected else {
        check(false, "accepted what the byte-level reference refuses", input)
        return 0
    }

    // The accepted head is the one the reference reads.
    check(head.majorVersion == 2 && head.minorVersion == 1, "version is not 2 (semantics 1.1)", input)
    check(head.method.utf8.elementsEqual(expected.method), "method differs from :method", input)
    check(head.path.utf8.elementsEqual(expected.path), "path differs from :path", input)
    check((head.query == nil) == (expected.query == nil), "query presence differs from :path", input)
    if let q = head.query, let r = expected.query { check(q.utf8.elementsEqual(r), "query differs from :path", input) }
    check(head.fields.count == expected.fields.count && head.fields.count <= maxFields, "field count", input)
    for (f, r) in zip(head.fields, expected.fields) {
        check(f.name.utf8.elementsEqual(r.name), "field name differs from the raw name", input)
        check(sameText(f.value, r.value), "field value differs from the raw value", input)
    }
    let framing: Framing
    switch head.framing {
    case .none: framing = .none
    case .length(let n): framing = .length(n)
    case .streamed: framing = .streamed
    case .chunked: framing = .length(-1); check(false, "chunked framing in HTTP/2", input)
    }
    check(framing == expected.framing, "framing \(head.framing) differs from the reference's \(expected.framing)", input)
    check(!head.expectsContinue, "expectsContinue set for HTTP/2 (the stream answers Expect itself)", input)

    // Agreement with the HTTP/1.1 parser.
    let hasHost = expected.fields.contains { $0.name == bytes("host") }
    var text = expected.method + [0x20] + expected.target + bytes(hasHost ? " HTTP/1.1" : " HTTP/1.0")
    for (n, v) in expected.fields { text += [0x0D, 0x0A] + n + bytes(": ") + v }
    do {
        let h1 = try HTTPRequestHead.parse(text)
        check(h1.method.utf8.elementsEqual(head.method.utf8) && h1.path.utf8.elementsEqual(head.path.utf8),
              "HTTP/1.1 method or path differs", input)
        check((h1.query == nil) == (head.query == nil) && (h1.query ?? "").utf8.elementsEqual((head.query ?? "").utf8),
              "HTTP/1.1 query differs", input)
        check(h1.fields.count == head.fields.count, "HTTP/1.1 field count differs", input)
        for (a, b) in zip(h1.fields, head.fields) {
            check(a.name.utf8.elementsEqual(b.name.utf8) && a.value.utf8.elementsEqual(b.value.utf8), "HTTP/1.1 field differs", input)
        }
        let h1Framing: HTTPRequestHead.BodyFraming
        switch head.framing {
        case .length(let n) where n > 0: h1Framing = .length(n)
        default: h1Framing = .none
        }
        check(h1.framing == h1Framing, "HTTP/1.1 framing \(h1.framing), HTTP/2 framing \(head.framing)", input)
    } catch {
        check(false, "HTTP/1.1 refuses the accepted HTTP/2 head: \(error)", input)
    }
    return 0
}
