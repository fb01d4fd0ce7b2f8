// fuzz_route — Route.parse, Route.percentDecode and QueryString.
// SOURCES: Route.swift QueryString.swift ChannelRequests.swift RequestValidation.swift APIError.swift JSONBytes.swift JSONWriter.swift JSONValue.swift JSONParser.swift JSONScanner.swift JSONParseError.swift PercentDecoding.swift
// EXTRA: Fuzz/support/FuzzSupport.swift
//
// The input bytes, as UTF-8 text (invalid bytes become U+FFFD), are a path and a query string.
// Invariants (all on bytes, never on Unicode-aware String comparison):
//  - percentDecode agrees with a byte-level reference decoder on every segment (split on the
//    byte '/'); Route.parse sees exactly those segments;
//  - a parsed route, re-encoded as a canonical path (ids fully percent-encoded), parses to
//    the same route with byte-identical ids; a route is only returned for a path starting with '/';
//  - QueryString.parse agrees with a byte-level reference (split on '&', first '=', '+' is a
//    space, valid %XX decoded, anything else literal); its pairs, re-encoded, parse to themselves.

private func hex(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x41...0x46: return c - 0x41 + 10
    case 0x61...0x66: return c - 0x61 + 10
    default: return nil
    }
}

private func refPercentDecode(_ b: ArraySlice<UInt8>, plusIsSpace: Bool) -> [UInt8] {
    let a = Array(b)
    var out: [UInt8] = []
    var i = 0
    while i < a.count {
        if a[i] == 0x25, i + 2 < a.count, let h = hex(a[i + 1]), let l = hex(a[i + 2]) {
            out.append(h << 4 | l)
            i += 3
        } else {
            out.append(plusIsSpace && a[i] == 0x2B ? 0x20 : a[i])
            i += 1
        }
    }
    return out
}

private func percentEncode(_ s: String, spaceAsPlus: Bool = false) -> String {
    var out = ""
    for b in s.utf8 {
        let unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
        if unreserved { out.unicodeScalars.append(Unicode.Scalar(b)) } else if spaceAsPlus && b == 0x20 { out += "+" } else {
            out += "%" + String(b, radix: 16, uppercase: true).leftPad()
        }
    }
    return out
}

extension String {
    fileprivate func leftPad() -> String { count == 1 ? "0" + self : self }
}

private func sameRoute(_ a: Route, _ b: Route) -> Bool {
    func id(_ r: Route) -> String? {
        switch r {
        case .session(let s), .closeSession(let s), .completeRun(let s), .subscribe(let s, _), .append(let s, _),
             .records(let s, _), .control(let s), .s2Records(let s), .s2Tail(let s): return s
        default: return nil
        }
    }
    guard a == b else { return false }
    return id(a).map { x in id(b).map { Array(x.utf8) == Array($0.utf8) } ?? false } ?? (id(b) == nil)
}

private func canonicalPath(_ r: Route) -> String {
    switch r {
    case .healthz: return "/healthz"
    case .readyz: return "/readyz"
    case .metrics: return "/metrics"
    case .demo: return "/demo"
    case .clientScript: return "/client.js"
    case .statusPage: return "/status"
    case .statusJSON: return "/status.json"
    case .statusStream: return "/status/stream"
    case .sessions: return "/api/v1/sessions"
    case .session(let s): return "/api/v1/sessions/" + percentEncode(s)
    case .closeSession(let s): return "/api/v1/sessions/" + percentEncode(s) + "/close"
    case .completeRun(let s): return "/api/v1/runs/" + percentEncode(s) + "/complete"
    case .subscribe(let s, let io): return "/realtime/v1/sessions/" + percentEncode(s) + "/" + io.rawValue
    case .append(let s, let io): return "/realtime/v1/sessions/" + percentEncode(s) + "/" + io.rawValue + "/append"
    case .records(let s, let io): return "/realtime/v1/sessions/" + percentEncode(s) + "/" + io.rawValue + "/records"
    case .control(let s): return "/realtime/v1/sessions/" + percentEncode(s) + "/out/control"
    case .s2Records(let s): return "/s2/v1/streams/" + percentEncode(s) + "/records"
    case .s2Tail(let s): return "/v1/streams/" + percentEncode(s) + "/records/tail"
    case .notServed(let what):
        return what == "waitpoints" ? "/api/v1/runs/r/session-streams/wait" : "/api/v1/sessions/s/" + what
    }
}

private func checkPath(_ path: String) {
    let bytes = Array(path.utf8)
    let segments = bytes.split(separator: 0x2F, omittingEmptySubsequences: false).dropFirst()
    var refParts: [[UInt8]]? = []
    for seg in segments {
        let got = Route.percentDecode(Substring(String(decoding: seg, as: UTF8.self)))
        let want = refPercentDecode(seg, plusIsSpace: false)
        if let got {
            check(Array(got.utf8) == want, "percentDecode(\(String(decoding: seg, as: UTF8.self).debugDescription)) = \(got.debugDescription), bytes \(want)", path)
            refParts?.append(want)
        } else {
            check(String(validating: want, as: UTF8.self) == nil, "percentDecode refused valid UTF-8 \(want)", path)
            refParts = nil
        }
    }
    let route = Route.parse(path: path)
    if bytes.first != 0x2F { check(route == nil, "route for a path without a leading '/'", path); return }
    guard let route else { return }
    check(refParts != nil, "route from a path with an undecodable segment", path)
    let again = Route.parse(path: canonicalPath(route))
    check(again.map { sameRoute($0, route) } == true,
          "canonical path \(canonicalPath(route).debugDescription) of \(route) parses to \(String(describing: again))", path)
    // The id, if any, is byte-for-byte the reference decoding of its segment.
    if var parts = refParts {
        if parts.last == [] && parts.count > 1 { parts.removeLast() }
        func id(_ s: String, at i: Int) {
            check(i < parts.count && Array(s.utf8) == parts[i], "route id \(s.debugDescription) differs from its decoded segment", path)
        }
        switch route {
        case .session(let s), .closeSession(let s), .completeRun(let s), .subscribe(let s, _), .append(let s, _),
             .records(let s, _), .control(let s): id(s, at: 3)
        default: break
        }
    }
}

private func checkQuery(_ raw: String) {
    let pairs = QueryString.parse(raw)
    var ref: [([UInt8], [UInt8])] = []
    for piece in Array(raw.utf8).split(separator: 0x26, omittingEmptySubsequences: true) {
        let name: ArraySlice<UInt8>, value: ArraySlice<UInt8>
        if let eq = piece.firstIndex(of: 0x3D) { (name, value) = (piece[..<eq], piece[(eq + 1)...]) } else { (name, value) = (piece, []) }
        // Invalid UTF-8 after decoding becomes U+FFFD, as String(decoding:) does it.
        ref.append((Array(String(decoding: refPercentDecode(name, plusIsSpace: true), as: UTF8.self).utf8),
                    Array(String(decoding: refPercentDecode(value, plusIsSpace: true), as: UTF8.self).utf8)))
    }
    check(pairs.count == ref.count, "pair count \(pairs.count) != \(ref.count)", raw)
    for (p, r) in zip(pairs, ref) {
        check(Array(p.0.utf8) == r.0 && Array(p.1.utf8) == r.1, "pair \(p) != reference", raw)
    }
    let encoded = pairs.map { percentEncode($0.0, spaceAsPlus: true) + "=" + percentEncode($0.1, spaceAsPlus: true) }.joined(separator: "&")
    let again = QueryString.parse(encoded)
    check(again.count == pairs.count && zip(again, pairs).allSatisfy { Array($0.0.utf8) == Array($1.0.utf8) && Array($0.1.utf8) == Array($1.1.utf8) },
          "re-encoded query \(encoded.debugDescription) parses differently", raw)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // "path?query" like a request target; the whole text is also tried as each.
    if let q = text.utf8.firstIndex(of: 0x3F) {
        checkPath(String(text[..<q]))
        checkQuery(String(text[text.utf8.index(after: q)...]))
    }
    checkPath(text)
    checkQuery(text)
    return 0
}
