// fuzz_token — Base64URL, Scope.parse / allows, the JWT claims of PublicToken and the
// Authorization header parsing of Authenticator.
// SOURCES: Base64URL.swift Scope.swift PublicToken.swift Authenticator.swift Authorization.swift RelayEnvironment.swift StreamFormat.swift FriendlyID.swift APIError.swift JSONScanner.swift JSONParser.swift JSONValue.swift JSONBytes.swift JSONParseError.swift JSONWriter.swift
// EXTRA: Fuzz/support/FuzzSupport.swift Fuzz/support/CryptoStub.swift
//
// PublicToken.swift is compiled without `import Crypto`, against Fuzz/support/CryptoStub.swift
// (a keyed mixing function instead of HMAC-SHA256): this harness checks parsing, encoding and
// comparison logic, not cryptography.
//
// The input, as text (invalid UTF-8 becomes U+FFFD), is tried as every kind of string.
// Invariants (on bytes, never on Unicode-aware String comparison):
//  - Base64URL: encode then decode gives the bytes back; a string that decodes is the canonical
//    encoding of what it decodes to (one token, one spelling).
//  - Scope.parse: "admin" alone is admin; any other accepted scope is action:type[:id] with
//    non-empty parts, action and type free of ':', and re-joins to exactly the input; a scope
//    with an id allows exactly that id (byte-equal), not another spelling of it.
//  - bearerCredential agrees with a byte-level reading: optional SP/HT, "bearer" in any ASCII
//    case, SP/HT, a credential with no SP/HT, optional trailing SP/HT.
//  - decodeUnverified never crashes; claims it returns survive mint -> decodeUnverified; a
//    minted token from fuzzed claims decodes to them, verifies under its secret and not under
//    another, stops verifying when a byte of its payload changes, and authenticates.

private func bytesEqual(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }
private func bytesEqual(_ a: [String], _ b: [String]) -> Bool { a.count == b.count && zip(a, b).allSatisfy(bytesEqual) }
private func sameClaims(_ a: TokenClaims, _ b: TokenClaims) -> Bool {
    bytesEqual(a.subject, b.subject) && bytesEqual(a.scopes, b.scopes) && a.issuedAt == b.issuedAt
        && a.expiresAt == b.expiresAt && a.notBefore == b.notBefore
}

private func checkBase64(_ text: String, _ raw: [UInt8]) {
    let encoded = Base64URL.encode(raw)
    check(Base64URL.decode(encoded) == raw, "encode/decode round trip", text)
    check(encoded.utf8.count == (raw.count * 4 + 2) / 3, "encoded length", text)
    if let decoded = Base64URL.decode(text) {
        check(bytesEqual(Base64URL.encode(decoded), text),
              "\(text.debugDescription) decodes but is not the canonical encoding \(Base64URL.encode(decoded).debugDescription)", text)
    }
}

private func checkScope(_ text: String, other: String) {
    guard let scope = Scope.parse(text) else {
        check(!bytesEqual(text, "admin"), "admin refused", text)
        return
    }
    if scope.isAdmin {
        check(bytesEqual(text, "admin"), "admin scope from \(text.debugDescription)", text)
        return
    }
    check(!scope.action.isEmpty && !scope.type.isEmpty && scope.id.map { !$0.isEmpty } != false, "empty part", text)
    check(!scope.action.utf8.contains(0x3A) && !scope.type.utf8.contains(0x3A), "':' inside action or type", text)
    let joined = scope.action + ":" + scope.type + (scope.id.map { ":" + $0 } ?? "")
    check(bytesEqual(joined, text), "parts \(scope) do not re-join to the input", text)
    check(scope.allows(action: scope.action, type: scope.type, ids: scope.id.map { [$0] } ?? []), "scope denies itself", text)
    if let id = scope.id {
        check(scope.allows(action: scope.action, type: scope.type, ids: [other]) == bytesEqual(id, other),
              "scope id \(id.debugDescription) vs \(other.debugDescription): allows must mean byte-equal", text)
    }
}

private func refBearer(_ header: [UInt8]) -> [UInt8]? {
    var s = header[...]
    while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
    guard let sp = s.firstIndex(where: { $0 == 0x20 || $0 == 0x09 }) else { return nil }
    guard s[..<sp].map({ $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }) == Array("bearer".utf8) else { return nil }
    var c = s[sp...]
    while let f = c.first, f == 0x20 || f == 0x09 { c = c.dropFirst() }
    while let l = c.last, l == 0x20 || l == 0x09 { c = c.dropLast() }
    guard !c.isEmpty, !c.contains(0x20), !c.contains(0x09) else { return nil }
    return Array(c)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let raw = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: raw, as: UTF8.self)
    // A second string from the input: what follows the first NUL (or nothing).
    let nul = text.utf8.firstIndex(of: 0) ?? text.utf8.endIndex
    let first = String(text[..<nul])
    let second = nul == text.utf8.endIndex ? "" : String(text[text.utf8.index(after: nul)...])

    checkBase64(text, raw)
    checkScope(first, other: second)

    let bearer = Authenticator.bearerCredential(text)
    let want = refBearer(Array(text.utf8))
    check(bearer.map { Array($0.utf8) } == want,
          "bearerCredential gave \(bearer.debugDescription), a byte-level reading gives \(want.map { String(decoding: $0, as: UTF8.self) }.debugDescription)", text)

    // Arbitrary tokens.
    if let claims = PublicToken.decodeUnverified(text) {
        let (ttl, overflow) = claims.expiresAt.subtractingReportingOverflow(claims.issuedAt)
        if !overflow {
            let again = PublicToken.mint(environmentId: claims.subject, scopes: claims.scopes, secret: "k",
                                         issuedAt: claims.issuedAt, ttlSeconds: ttl, notBefore: claims.notBefore)
            check(PublicToken.decodeUnverified(again).map { sameClaims($0, claims) } == true, "re-minted claims differ", text)
        }
    }

    // Minted tokens from fuzzed claims.
    let parts = second.split(separator: "\u{1}", omittingEmptySubsequences: false).map(String.init)
    let secret = parts.first ?? ""
    let seed = raw.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    let iat = Int64(truncatingIfNeeded: seed % 4_000_000_000)
    let claims = TokenClaims(subject: first, scopes: Array(parts.dropFirst()), issuedAt: iat, expiresAt: iat + 3600,
                             notBefore: seed & 1 == 0 ? nil : iat - Int64(seed >> 40))
    let token = PublicToken.mint(environmentId: claims.subject, scopes: claims.scopes, secret: secret,
                                 issuedAt: claims.issuedAt, notBefore: claims.notBefore)
    check(PublicToken.decodeUnverified(token).map { sameClaims($0, claims) } == true,
          "minted claims \(claims) decode as \(String(describing: PublicToken.decodeUnverified(token)))", text)
    check(PublicToken.verifySignature(token, secret: secret), "minted token does not verify", text)
    check(!PublicToken.verifySignature(token, secret: secret + "x"), "token verifies under another secret", text)
    var tampered = Array(token.utf8)
    let dot = tampered.firstIndex(of: 0x2E)!
    let at = dot + 1 + Int(seed % UInt64(max(tampered.count - dot - 1, 1)))
    if at < tampered.count, tampered[at] != 0x2E {
        tampered[at] = tampered[at] == 0x41 ? 0x42 : 0x41
        check(!PublicToken.verifySignature(String(decoding: tampered, as: UTF8.self), secret: secret),
              "token with payload byte \(at) changed still verifies", text)
    }
    let env = RelayEnvironment(id: claims.subject, slug: "s", secretKeys: [secret])
    let result = Authenticator(environments: [env]).authenticate(authorization: "Bearer " + token, queryToken: nil,
                                                                 nowSeconds: iat + 1)
    if claims.notBefore.map({ $0 <= iat + 1 }) ?? true, !bytesEqual(secret, token) {
        guard case .success(.publicToken(let e, let scopes, let exp)) = result else {
            check(false, "minted token does not authenticate: \(result)", text)
            return 0
        }
        check(bytesEqual(e.id, claims.subject) && bytesEqual(scopes, claims.scopes) && exp == claims.expiresAt,
              "authenticated principal differs from the claims", text)
    }
    return 0
}
