// fuzz_http — HTTPRequestHead.parse and ChunkedBodyDecoder.
// SOURCES: HTTPRequestHead.swift ChunkedBodyDecoder.swift PercentDecoding.swift
// EXTRA: Fuzz/support/FuzzSupport.swift
//
// Input: byte 0 picks the chunked decoder's limit, byte 1 seeds the split points, the rest is
// both a request head and a chunked stream (and, for the encode/decode round trip, a body).
//
// Invariants:
//  head — parsing is deterministic; an accepted head re-serialized in origin form parses to an
//    equal head; every accepted head obeys, checked on the raw bytes (not Swift Strings, whose
//    comparisons are Unicode-aware): method is a token, target bytes are visible ASCII, field
//    names are lowercase tokens, values hold no CTL and no surrounding SP/HT, singleton fields
//    appear once, HTTP/1.1 has exactly one Host and the Host holds no SP, HT, '/' or '@',
//    framing/keepAlive/expectsContinue match a byte-level reading of the fields.
//  chunked — fed in arbitrary splits gives the same body, consumed count, completion and error
//    as fed whole; the decoded size never exceeds the limit; consumed <= input, and less than
//    the input only once complete; a body encoded in random chunks (with extensions and a
//    trailer) decodes to itself and stops exactly at its end.

private func asciiLower(_ b: [UInt8]) -> [UInt8] { b.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 } }
private func trimOWS(_ b: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var s = b
    while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
    while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
    return s
}
private func isToken(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || Array("!#$%&'*+-.^_`|~".utf8).contains(b)
}

// MARK: Head

private func checkHead(_ input: [UInt8]) {
    let head: HTTPRequestHead
    do {
        head = try HTTPRequestHead.parse(input)
    } catch let e as HTTPHeadError {
        check([400, 417, 431, 501, 505].contains(e.status), "unexpected status \(e.status)", input)
        check((try? HTTPRequestHead.parse(input)) == nil, "parse is not deterministic", input)
        return
    } catch {
        check(false, "parse threw a non-HTTPHeadError", input)
        return
    }
    check((try? HTTPRequestHead.parse(input)) == head, "parse is not deterministic", input)

    // The raw lines, for byte-level checks (the parser already refused bare CR / LF).
    var lines: [[UInt8]] = []
    var start = 0, i = 0
    while i < input.count {
        if input[i] == 0x0D { lines.append(Array(input[start..<i])); i += 2; start = i } else { i += 1 }
    }
    if start < input.count { lines.append(Array(input[start...])) }
    check(lines.count == head.fields.count + 1, "field count differs from line count", input)

    check(!head.method.isEmpty && head.method.utf8.allSatisfy(isToken), "method is not a token", input)
    for part in [head.path, head.query ?? ""] {
        check(part.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target holds a byte outside visible ASCII", input)
    }
    check(head.path == "*" || head.path.utf8.first == 0x2F, "path neither '*' nor origin form", input)
    check(head.minorVersion == 0 || head.minorVersion == 1, "minor version", input)
    check(head.fields.count <= HTTPRequestHead.maxFieldCount, "too many fields accepted", input)

    var raw: [(name: [UInt8], value: ArraySlice<UInt8>)] = []
    for line in lines.dropFirst() {
        let colon = line.firstIndex(of: 0x3A)!
        raw.append((asciiLower(Array(line[..<colon])), trimOWS(line[(colon + 1)...])))
    }
    for (n, f) in zip(raw, head.fields) {
        check(f.name.utf8.elementsEqual(n.name), "field name is not the lowercased raw name", input)
        check(n.name.allSatisfy(isToken), "field name is not a token", input)
        check(!n.value.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }, "control byte in a field value", input)
        if n.value.allSatisfy({ $0 < 0x80 }) {
            check(f.value.utf8.elementsEqual(n.value), "field value differs from the raw value", input)
        }
    }
    func values(_ name: String) -> [ArraySlice<UInt8>] { raw.filter { $0.name == Array(name.utf8) }.map(\.value) }
    for name in HTTPRequestHead.singletonFields {
        check(values(name).count <= 1, "duplicate \(name) accepted", input)
    }
    let hosts = values("host")
    if head.minorVersion == 1 { check(hosts.count == 1, "HTTP/1.1 without exactly one Host", input) }
    if let host = hosts.first {
        check(!host.contains { $0 == 0x20 || $0 == 0x09 || $0 == 0x2F || $0 == 0x40 },
              "Host with SP, HT, '/' or '@' accepted", input)
    }
    let te = values("transfer-encoding").first, cl = values("content-length").first
    switch head.framing {
    case .chunked:
        check(head.minorVersion == 1 && cl == nil, "chunked with Content-Length or in HTTP/1.0", input)
        check(te.map { asciiLower(Array(trimOWS($0))) == Array("chunked".utf8) } == true,
              "chunked framing, but Transfer-Encoding is not the bytes 'chunked'", input)
    case .length(let n):
        check(te == nil && n > 0, "length framing with Transfer-Encoding or n <= 0", input)
        check(cl.map { $0.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && Int(String(decoding: $0, as: UTF8.self)) == n } == true,
              "length framing differs from the Content-Length digits", input)
    case .none:
        check(te == nil, "Transfer-Encoding accepted without chunked framing", input)
        if let cl { check(!cl.isEmpty && cl.allSatisfy { $0 == 0x30 }, "non-zero Content-Length gave no framing", input) }
    case .streamed:
        check(false, "HTTP/2's streamed framing from an HTTP/1.x head", input)
    }
    var close = false, keep = false
    for v in values("connection") {
        for option in v.split(separator: 0x2C, omittingEmptySubsequences: false) {
            let o = asciiLower(Array(trimOWS(option)))
            if o == Array("close".utf8) { close = true }
            if o == Array("keep-alive".utf8) { keep = true }
        }
    }
    // Options that are not ASCII are neither close nor keep-alive for a byte-level reader.
    check(head.keepAlive == (!close && (head.minorVersion == 1 || keep)), "keepAlive differs from the Connection bytes", input)
    if let e = values("expect").first {
        check(asciiLower(Array(e)) == Array("100-continue".utf8), "unsupported Expect accepted", input)
        check(head.expectsContinue == (head.minorVersion == 1), "expectsContinue", input)
    } else {
        check(!head.expectsContinue, "expectsContinue without Expect", input)
    }

    // Round trip through origin form.
    if head.path != "*" {
        var text = Array(head.method.utf8) + [0x20] + Array(head.path.utf8)
        if let q = head.query { text += [0x3F] + Array(q.utf8) }
        text += Array(" HTTP/1.\(head.minorVersion)".utf8)
        for (n, v) in raw { text += [0x0D, 0x0A] + n + Array(": ".utf8) + Array(v) }
        let again = try? HTTPRequestHead.parse(text)
        check(again == head, "origin-form re-serialization parses differently", input)
    }
}

// MARK: Chunked

private enum Outcome: Equatable {
    case ok(body: [UInt8], consumed: Int, complete: Bool)
    case failed(ChunkedBodyDecoder.Failure, body: [UInt8])
}

private func decode(_ stream: [UInt8], limit: Int, pieces: [Int]?) -> Outcome {
    var decoder = ChunkedBodyDecoder(limit: limit)
    var body: [UInt8] = []
    var consumed = 0
    var offset = 0
    var sizes = pieces ?? [stream.count]
    if sizes.isEmpty { sizes = [stream.count] }
    var k = 0
    while offset < stream.count || (k == 0 && stream.isEmpty) {
        let n = min(sizes[k % sizes.count], stream.count - offset)
        k += 1
        do {
            let used = try decoder.feed(stream[offset..<(offset + n)], into: &body)
            precondition(used >= 0 && used <= n, "feed consumed \(used) of \(n) bytes")
            consumed += used
            if used < n {
                precondition(decoder.isComplete, "feed stopped early without completing")
                break
            }
        } catch {
            return .failed(error, body: body)
        }
        precondition(decoder.decodedCount == body.count, "decodedCount \(decoder.decodedCount) != body \(body.count)")
        precondition(body.count <= limit, "decoded \(body.count) bytes over the limit \(limit)")
        offset += n
        if stream.isEmpty { break }
    }
    return .ok(body: body, consumed: consumed, complete: decoder.isComplete)
}

private func checkChunked(_ stream: [UInt8], limit: Int, rng: inout SplitMix, input: [UInt8]) {
    let whole = decode(stream, limit: limit, pieces: nil)
    if case .ok(let body, let consumed, let complete) = whole {
        check(consumed <= stream.count, "consumed more than the input", input)
        check(complete || consumed == stream.count, "stopped early without completing", input)
        check(body.count <= limit, "body over the limit", input)
    }
    var pieces: [Int] = []
    for _ in 0..<(1 + rng.below(6)) { pieces.append(1 + rng.below(rng.below(2) == 0 ? 4 : 64)) }
    let split = decode(stream, limit: limit, pieces: pieces)
    check(split == whole, "split feeding \(pieces) gave \(split), whole gave \(whole)", input)
    let bytewise = decode(stream, limit: limit, pieces: [1])
    check(bytewise == whole, "byte-at-a-time feeding differs from whole", input)
}

private func encodeChunked(_ body: [UInt8], rng: inout SplitMix) -> [UInt8] {
    var out: [UInt8] = []
    var i = 0
    while i < body.count {
        let n = min(body.count - i, 1 + rng.below(40))
        var size = Array(String(n, radix: 16, uppercase: rng.below(2) == 0).utf8)
        if rng.below(4) == 0 { size = [0x30] + size }
        out += size
        if rng.below(4) == 0 { out += Array(" ; ext=\"v\"".utf8) }
        out += [0x0D, 0x0A] + body[i..<(i + n)] + [0x0D, 0x0A]
        i += n
    }
    out += Array("0".utf8)
    if rng.below(3) == 0 { out += Array(";last".utf8) }
    out += [0x0D, 0x0A]
    if rng.below(3) == 0 { out += Array("X-Trailer: yes\r\n".utf8) }
    out += [0x0D, 0x0A]
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    checkHead(input)
    guard size >= 2 else { return 0 }
    let limit = Int(input[0]) * 4
    var rng = SplitMix(state: UInt64(input[1]) &* 0x1_0000_0001 &+ UInt64(size))
    let rest = Array(input[2...])
    checkChunked(rest, limit: limit, rng: &rng, input: input)

    // Round trip: `rest` as a body, chunked, followed by the next request's bytes.
    let encoded = encodeChunked(rest, rng: &rng)
    let next = Array("GET / HTTP/1.1\r\n".utf8)
    let outcome = decode(encoded + next, limit: max(limit, rest.count), pieces: [1 + rng.below(17)])
    check(outcome == .ok(body: rest, consumed: encoded.count, complete: true),
          "encoded body decoded as \(outcome)", input)
    let tight = decode(encoded, limit: rest.count - 1, pieces: nil)
    if !rest.isEmpty {
        if case .failed(.tooLarge, _) = tight {} else { check(false, "body over the limit not refused: \(tight)", input) }
    }
    return 0
}
