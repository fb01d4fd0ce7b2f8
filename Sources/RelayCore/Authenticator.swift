// Authenticator.swift — turns the Authorization header (or ?token=) into a Principal.
//
// Header wins over the query token. A header credential equal to a secret key is that
// environment's secret key; anything else (and every query token) must be a public token:
// decodable, `sub` a known environment, signed by one of its keys, not expired, and not
// before its `nbf` if it has one (no leeway: clocks are expected to be synchronized).
// Every failure is a 401 with its own message.

public struct Authenticator: Sendable {
    private let environmentsById: [String: RelayEnvironment]
    private let environmentsByKey: [String: RelayEnvironment]

    public init(environments: [RelayEnvironment]) {
        var byId: [String: RelayEnvironment] = [:]
        var byKey: [String: RelayEnvironment] = [:]
        for env in environments {
            byId[env.id] = byId[env.id] ?? env
            for key in env.secretKeys where !key.isEmpty { byKey[key] = byKey[key] ?? env }
        }
        environmentsById = byId
        environmentsByKey = byKey
    }

    public static let missingCredentials = APIError.unauthorized(
        "Missing credentials: send Authorization: Bearer <secret key or public token>")
    public static let malformedHeader = APIError.unauthorized(
        "Malformed Authorization header: expected 'Bearer <token>'")
    public static let invalidCredentials = APIError.unauthorized("Invalid API key or token")
    public static let badSignature = APIError.unauthorized("Invalid token signature")
    public static let expiredToken = APIError.unauthorized("Token expired")
    public static let tokenNotYetValid = APIError.unauthorized("Token not yet valid")

    public func authenticate(authorization: String?, queryToken: String?, nowSeconds: Int64) -> Result<Principal, APIError> {
        if let authorization {
            guard let credential = Self.bearerCredential(authorization) else {
                return .failure(Self.malformedHeader)
            }
            if let env = environmentsByKey[credential] { return .success(.secretKey(env)) }
            return verifyPublicToken(credential, nowSeconds: nowSeconds)
        }
        if let queryToken, !queryToken.isEmpty {
            return verifyPublicToken(queryToken, nowSeconds: nowSeconds)
        }
        return .failure(Self.missingCredentials)
    }

    /// The credential of "Bearer <credential>" (scheme case-insensitive), or nil.
    /// Read as bytes: a Character-wise reading let a tab, or a space followed by a combining
    /// mark (one grapheme), through inside the credential.
    public static func bearerCredential(_ header: String) -> String? {
        func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        let trimmed = header.utf8.drop(while: isWhitespace)
        guard let space = trimmed.firstIndex(where: isWhitespace),
              trimmed[..<space].map({ $0 | 0x20 }).elementsEqual("bearer".utf8) else { return nil }
        var credential = trimmed[space...].drop(while: isWhitespace)
        while let last = credential.last, isWhitespace(last) { credential = credential.dropLast() }
        guard !credential.isEmpty, !credential.contains(where: isWhitespace) else { return nil }
        return String(Substring(credential))
    }

    private func verifyPublicToken(_ token: String, nowSeconds: Int64) -> Result<Principal, APIError> {
        guard let claims = PublicToken.decodeUnverified(token),
              let env = environmentsById[claims.subject] else {
            return .failure(Self.invalidCredentials)
        }
        guard env.secretKeys.contains(where: { PublicToken.verifySignature(token, secret: $0) }) else {
            return .failure(Self.badSignature)
        }
        guard claims.expiresAt > nowSeconds else { return .failure(Self.expiredToken) }
        if let nbf = claims.notBefore, nbf > nowSeconds { return .failure(Self.tokenNotYetValid) }
        return .success(.publicToken(env, scopes: claims.scopes, expiresAt: claims.expiresAt))
    }
}
