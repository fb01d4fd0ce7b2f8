// AuthenticatorTests.swift — credentials to Principal, and each distinct 401.

import XCTest
@testable import RelayCore

final class AuthenticatorTests: XCTestCase {
    let dev = RelayEnvironment(id: "env_dev", slug: "dev", secretKeys: ["tr_dev_a", "tr_dev_b"])
    let prod = RelayEnvironment(id: "env_prod", slug: "prod", secretKeys: ["tr_prod_a"])
    lazy var auth = Authenticator(environments: [dev, prod])
    let now: Int64 = 1_700_000_000

    private func token(env: String = "env_dev", secret: String = "tr_dev_b", scopes: [String] = ["read:sessions"],
                       issuedAt: Int64? = nil, ttl: Int64 = 3600, notBefore: Int64? = nil) -> String {
        PublicToken.mint(environmentId: env, scopes: scopes, secret: secret, issuedAt: issuedAt ?? now, ttlSeconds: ttl,
                         notBefore: notBefore)
    }

    private func failure(_ r: Result<Principal, APIError>) -> APIError? {
        if case .failure(let e) = r { return e }
        return nil
    }

    func testSecretKeys() {
        XCTAssertEqual(try auth.authenticate(authorization: "Bearer tr_dev_a", queryToken: nil, nowSeconds: now).get(), .secretKey(dev))
        XCTAssertEqual(try auth.authenticate(authorization: "Bearer tr_dev_b", queryToken: nil, nowSeconds: now).get(), .secretKey(dev))
        XCTAssertEqual(try auth.authenticate(authorization: "bearer   tr_prod_a ", queryToken: nil, nowSeconds: now).get(), .secretKey(prod))
        XCTAssertEqual(try auth.authenticate(authorization: "BEARER tr_prod_a", queryToken: nil, nowSeconds: now).get().environment, prod)
    }

    func testSecretKeyNeverAcceptedFromQuery() {
        XCTAssertEqual(failure(auth.authenticate(authorization: nil, queryToken: "tr_dev_a", nowSeconds: now)),
                       Authenticator.invalidCredentials)
    }

    func testPublicTokens() {
        let t = token(scopes: ["read:sessions:chat:1"])
        let expected = Principal.publicToken(dev, scopes: ["read:sessions:chat:1"], expiresAt: now + 3600)
        XCTAssertEqual(try auth.authenticate(authorization: "Bearer " + t, queryToken: nil, nowSeconds: now).get(), expected)
        XCTAssertEqual(try auth.authenticate(authorization: nil, queryToken: t, nowSeconds: now).get(), expected)
        // Signed with the first key too.
        XCTAssertNoThrow(try auth.authenticate(authorization: nil, queryToken: token(secret: "tr_dev_a"), nowSeconds: now).get())
    }

    func testHeaderWinsOverQuery() {
        let r = auth.authenticate(authorization: "Bearer tr_prod_a", queryToken: token(), nowSeconds: now)
        XCTAssertEqual(try r.get(), .secretKey(prod))
        let bad = auth.authenticate(authorization: "Bearer nope", queryToken: token(), nowSeconds: now)
        XCTAssertEqual(failure(bad), Authenticator.invalidCredentials)
    }

    func testMissingCredentials() {
        let e = failure(auth.authenticate(authorization: nil, queryToken: nil, nowSeconds: now))
        XCTAssertEqual(e, Authenticator.missingCredentials)
        XCTAssertEqual(e?.status, 401)
        XCTAssertEqual(failure(auth.authenticate(authorization: nil, queryToken: "", nowSeconds: now)), Authenticator.missingCredentials)
    }

    func testMalformedHeader() {
        for h in ["tr_dev_a", "Basic dHI6eA==", "Bearer", "Bearer ", "", "Token tr_dev_a", "Bearer a b", "Bearertr_dev_a"] {
            XCTAssertEqual(failure(auth.authenticate(authorization: h, queryToken: nil, nowSeconds: now)),
                           Authenticator.malformedHeader, h)
        }
    }

    func testUnknownKeyOrInvalidToken() {
        for credential in ["tr_dev_c", "garbage.token.here", token(env: "env_nowhere", secret: "tr_dev_a")] {
            XCTAssertEqual(failure(auth.authenticate(authorization: "Bearer " + credential, queryToken: nil, nowSeconds: now)),
                           Authenticator.invalidCredentials, credential)
        }
    }

    func testBadSignature() {
        // Signed with prod's key but claiming dev: the classic cross-environment forgery.
        let forged = token(env: "env_dev", secret: "tr_prod_a")
        XCTAssertEqual(failure(auth.authenticate(authorization: "Bearer " + forged, queryToken: nil, nowSeconds: now)),
                       Authenticator.badSignature)
        XCTAssertEqual(failure(auth.authenticate(authorization: nil, queryToken: token(secret: "wrong"), nowSeconds: now)),
                       Authenticator.badSignature)
    }

    func testExpiredToken() {
        let t = token(issuedAt: now - 3600, ttl: 3600) // exp == now
        XCTAssertEqual(failure(auth.authenticate(authorization: nil, queryToken: t, nowSeconds: now)), Authenticator.expiredToken)
        XCTAssertNoThrow(try auth.authenticate(authorization: nil, queryToken: t, nowSeconds: now - 1).get())
    }

    func testPrincipalCarriesTheTokensExpiry() throws {
        let p = try auth.authenticate(authorization: nil, queryToken: token(ttl: 90), nowSeconds: now).get()
        XCTAssertEqual(p.expiresAt, now + 90)
        XCTAssertNil(try auth.authenticate(authorization: "Bearer tr_dev_a", queryToken: nil, nowSeconds: now).get().expiresAt,
                     "secret keys do not expire")
    }

    func testNotBefore() {
        let t = token(notBefore: now + 10)
        XCTAssertEqual(failure(auth.authenticate(authorization: nil, queryToken: t, nowSeconds: now)), Authenticator.tokenNotYetValid)
        XCTAssertEqual(failure(auth.authenticate(authorization: nil, queryToken: t, nowSeconds: now + 9)), Authenticator.tokenNotYetValid)
        XCTAssertNoThrow(try auth.authenticate(authorization: nil, queryToken: t, nowSeconds: now + 10).get(), "valid from nbf on")
        XCTAssertNoThrow(try auth.authenticate(authorization: nil, queryToken: token(notBefore: now - 5), nowSeconds: now).get())
        // Expiry is checked first: an expired token says so even if nbf is odd.
        let expired = token(issuedAt: now - 100, ttl: 50, notBefore: now + 10)
        XCTAssertEqual(failure(auth.authenticate(authorization: nil, queryToken: expired, nowSeconds: now)), Authenticator.expiredToken)
    }

    func testNotBeforeClaimMustBeANumber() {
        let claims = #"{"sub":"env_dev","pub":true,"scopes":[],"iat":1,"exp":9999999999,"nbf":"soon"}"#
        let input = Base64URL.encode(#"{"alg":"HS256","typ":"JWT"}"#.utf8) + "." + Base64URL.encode(claims.utf8)
        XCTAssertNil(PublicToken.decodeUnverified(input + ".AAAA"))
        XCTAssertEqual(PublicToken.decodeUnverified(token(notBefore: 123))?.notBefore, 123)
        XCTAssertNil(PublicToken.decodeUnverified(token())?.notBefore)
    }

    func testMessagesAreDistinct401s() {
        let all = [Authenticator.missingCredentials, Authenticator.malformedHeader, Authenticator.invalidCredentials,
                   Authenticator.badSignature, Authenticator.expiredToken, Authenticator.tokenNotYetValid]
        XCTAssertTrue(all.allSatisfy { $0.status == 401 })
        XCTAssertEqual(Set(all.map(\.message)).count, all.count)
    }
}
