// PublicToken.swift — public access tokens: HS256 JWTs signed with the UTF-8 bytes of one
// of an environment's secret keys.
//
// Header {"alg":"HS256","typ":"JWT"}; claims {"sub":envId,"pub":true,"scopes":[...],"iat":s,"exp":s}
// and, in tokens minted elsewhere, an optional "nbf":s.
// mint builds one, decodeUnverified reads the claims (no signature check: use it only to
// find the environment), verifySignature checks the HMAC in constant time.

import Crypto

public struct TokenClaims: Sendable, Equatable {
    public var subject: String
    public var scopes: [String]
    public var issuedAt: Int64
    public var expiresAt: Int64
    /// `nbf`, when the token has one: not valid before then.
    public var notBefore: Int64?

    public init(subject: String, scopes: [String], issuedAt: Int64, expiresAt: Int64, notBefore: Int64? = nil) {
        self.subject = subject
        self.scopes = scopes
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.notBefore = notBefore
    }
}

public enum PublicToken {
    private static let encodedHeader = Base64URL.encode(#"{"alg":"HS256","typ":"JWT"}"#.utf8)

    /// `notBefore` (nbf) is for tests and other issuers; the relay's own tokens have none.
    public static func mint(environmentId: String, scopes: [String], secret: String,
                            issuedAt: Int64, ttlSeconds: Int64 = 3600, notBefore: Int64? = nil) -> String {
        var claims = JSONObjectWriter()
        claims.string("sub", environmentId)
        claims.bool("pub", true)
        claims.stringArray("scopes", scopes)
        claims.int("iat", issuedAt)
        claims.int("exp", issuedAt + ttlSeconds)
        if let notBefore { claims.int("nbf", notBefore) }
        let signingInput = encodedHeader + "." + Base64URL.encode(claims.finishBytes())
        return signingInput + "." + Base64URL.encode(signature(of: signingInput, secret: secret))
    }

    /// The claims of a well-formed relay token, without checking its signature.
    /// nil unless: three segments, base64url, JSON objects, alg HS256, pub true, a string
    /// sub, numeric exp, and a numeric nbf if present (iat defaults to 0, scopes to []).
    public static func decodeUnverified(_ token: String) -> TokenClaims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerBytes = Base64URL.decode(parts[0]),
              let claimBytes = Base64URL.decode(parts[1]),
              Base64URL.decode(parts[2]) != nil,
              let header = try? JSONParser.parse(headerBytes),
              header["alg"]?.stringValue == "HS256",
              let claims = try? JSONParser.parse(claimBytes),
              claims["pub"] == .bool(true),
              let subject = claims["sub"]?.stringValue,
              let exp = claims["exp"].flatMap(numericDate)
        else { return nil }
        var scopes: [String] = []
        if let list = claims["scopes"] {
            guard let items = list.arrayValue else { return nil }
            for item in items {
                guard let s = item.stringValue else { return nil }
                scopes.append(s)
            }
        }
        var nbf: Int64?
        if let value = claims["nbf"], !value.isNull {
            guard let seconds = numericDate(value) else { return nil }
            nbf = seconds
        }
        let iat = claims["iat"].flatMap(numericDate) ?? 0
        return TokenClaims(subject: subject, scopes: scopes, issuedAt: iat, expiresAt: exp, notBefore: nbf)
    }

    /// Whether the token's signature is the HS256 MAC of its first two segments under `secret`.
    public static func verifySignature(_ token: String, secret: String) -> Bool {
        guard let lastDot = token.utf8.lastIndex(of: 0x2E),
              let given = Base64URL.decode(token[token.index(after: lastDot)...])
        else { return false }
        let signingInput = String(token[..<lastDot])
        guard signingInput.utf8.filter({ $0 == 0x2E }).count == 1 else { return false }
        let expected = signature(of: signingInput, secret: secret)
        guard given.count == expected.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<expected.count { diff |= given[i] ^ expected[i] }
        return diff == 0
    }

    private static func signature(of signingInput: String, secret: String) -> [UInt8] {
        let key = SymmetricKey(data: Array(secret.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(signingInput.utf8), using: key)
        return Array(mac)
    }

    /// A JWT NumericDate (seconds; fractions are truncated).
    private static func numericDate(_ v: JSONValue) -> Int64? {
        if let i = v.int64Value { return i }
        guard let d = v.doubleValue, d.isFinite, abs(d) < 9.2e18 else { return nil }
        return Int64(d.rounded(.down))
    }
}
