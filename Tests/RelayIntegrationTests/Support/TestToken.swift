// TestToken.swift: public tokens (JWT, HS256) minted and inspected by the tests.
//
// The HMAC comes from `openssl dgst -sha256 -hmac KEY -binary` (no crypto written here);
// the harness self-test checks it against the RFC 7519 / jwt.io example.

import Foundation

enum TestToken {
    static let header = #"{"alg":"HS256","typ":"JWT"}"#

    /// A token with claims `sub`, `pub: true`, `scopes`, `iat`, `exp` (default iat + 1 h),
    /// `nbf` when given, plus `extraClaims` (which may also override those).
    static func mint(envId: String, scopes: [String], secret: String, iat: Date = Date(), exp: Date? = nil,
                     nbf: Date? = nil, extraClaims: [String: JSON] = [:]) throws -> String {
        let issuedAt = Int(iat.timeIntervalSince1970)
        let expiresAt = exp.map { Int($0.timeIntervalSince1970) } ?? issuedAt + 3600
        var claims: [String: JSON] = [
            "sub": .string(envId),
            "pub": true,
            "scopes": .array(scopes.map(JSON.string)),
            "iat": .number(Double(issuedAt)),
            "exp": .number(Double(expiresAt)),
        ]
        if let nbf { claims["nbf"] = .number(Double(Int(nbf.timeIntervalSince1970))) }
        for (name, value) in extraClaims { claims[name] = value }
        return try sign(headerJSON: header, payloadJSON: JSON.object(claims).serialized, secret: secret)
    }

    /// `base64url(header).base64url(payload).base64url(HMAC-SHA256(secret, those two))`.
    static func sign(headerJSON: String, payloadJSON: String, secret: String) throws -> String {
        let signingInput = base64URL(Data(headerJSON.utf8)) + "." + base64URL(Data(payloadJSON.utf8))
        return signingInput + "." + base64URL(try hmacSHA256(Data(signingInput.utf8), key: secret))
    }

    /// The decoded claims of a token (signature not checked).
    static func claims(of token: String) throws -> JSON {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = decodeBase64URL(String(parts[1])) else {
            throw HarnessError("not a JWT: \(token.debugDescription)")
        }
        return try JSON(parsing: payload)
    }

    /// The decoded header of a token.
    static func header(of token: String) throws -> JSON {
        guard let first = token.split(separator: ".").first, let data = decodeBase64URL(String(first)) else {
            throw HarnessError("not a JWT: \(token.debugDescription)")
        }
        return try JSON(parsing: data)
    }

    /// True if the token's signature is HS256 with `secret`.
    static func hasValidSignature(_ token: String, secret: String) throws -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return false }
        let signingInput = parts[0] + "." + parts[1]
        return base64URL(try hmacSHA256(Data(signingInput.utf8), key: secret)) == parts[2]
    }

    static func hmacSHA256(_ data: Data, key: String) throws -> Data {
        let digest = try ChildProcess.run("openssl", ["dgst", "-sha256", "-hmac", key, "-binary"], input: data)
        guard digest.count == 32 else { throw HarnessError("openssl returned \(digest.count) bytes, not 32") }
        return digest
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
