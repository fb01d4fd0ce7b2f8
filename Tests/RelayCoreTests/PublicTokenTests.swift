// PublicTokenTests.swift — JWT minting, decoding and signature checks (vectors computed
// independently with Python's hmac module).

import XCTest
@testable import RelayCore

final class PublicTokenTests: XCTestCase {
    let known = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlbnZfZGV2IiwicHViIjp0cnVlLCJzY29wZXMiOlsicmVhZDpzZXNzaW9uczpjaGF0OjEiXSwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9.6QMMkSPE8KZxd-R6DCGve4b1LNLpbkz9cCJyD2tFWIE"
    let foreign = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3MDAwMDM2MDAsInN1YiI6ImVudl9kZXYiLCJpYXQiOjE3MDAwMDAwMDAsInB1YiI6dHJ1ZSwic2NvcGVzIjpbIndyaXRlOnNlc3Npb25zIl0sImV4dHJhIjoxfQ.WTtNDH4Dgw0OI_sXMT3iUZC7wSa_smVMW1oaEL4p3-s"

    func testMintMatchesReferenceVector() {
        let token = PublicToken.mint(environmentId: "env_dev", scopes: ["read:sessions:chat:1"],
                                     secret: "tr_dev_secret", issuedAt: 1_700_000_000)
        XCTAssertEqual(token, known)
    }

    func testDecodeUnverified() {
        XCTAssertEqual(PublicToken.decodeUnverified(known),
                       TokenClaims(subject: "env_dev", scopes: ["read:sessions:chat:1"],
                                   issuedAt: 1_700_000_000, expiresAt: 1_700_003_600))
        let t = PublicToken.mint(environmentId: "e", scopes: [], secret: "k", issuedAt: 10, ttlSeconds: 5)
        XCTAssertEqual(PublicToken.decodeUnverified(t)?.expiresAt, 15)
        XCTAssertEqual(PublicToken.decodeUnverified(t)?.scopes, [])
    }

    func testAcceptsTokensFromOtherIssuers() {
        XCTAssertTrue(PublicToken.verifySignature(foreign, secret: "tr_dev_secret"))
        XCTAssertEqual(PublicToken.decodeUnverified(foreign)?.scopes, ["write:sessions"])
    }

    func testVerifySignature() {
        XCTAssertTrue(PublicToken.verifySignature(known, secret: "tr_dev_secret"))
        XCTAssertFalse(PublicToken.verifySignature(known, secret: "tr_dev_other"))
        XCTAssertFalse(PublicToken.verifySignature(known, secret: ""))
    }

    func testTamperedTokensFail() {
        let parts = known.split(separator: ".").map(String.init)
        // Claims re-encoded with a wider scope, old signature kept.
        let widened = Base64URL.encode(#"{"sub":"env_dev","pub":true,"scopes":["admin"],"iat":1700000000,"exp":1700003600}"#.utf8)
        XCTAssertFalse(PublicToken.verifySignature(parts[0] + "." + widened + "." + parts[2], secret: "tr_dev_secret"))
        // One flipped signature character.
        var sig = Array(parts[2])
        sig[3] = sig[3] == "A" ? "B" : "A"
        XCTAssertFalse(PublicToken.verifySignature(parts[0] + "." + parts[1] + "." + String(sig), secret: "tr_dev_secret"))
        // Truncated signature, missing segment, extra segment.
        XCTAssertFalse(PublicToken.verifySignature(parts[0] + "." + parts[1] + "." + parts[2].dropLast(2), secret: "tr_dev_secret"))
        XCTAssertFalse(PublicToken.verifySignature(parts[0] + "." + parts[1], secret: "tr_dev_secret"))
        XCTAssertFalse(PublicToken.verifySignature(known + ".x", secret: "tr_dev_secret"))
    }

    func testDecodeRejectsMalformed() {
        let sig = "AAAA"
        func token(_ header: String, _ claims: String) -> String {
            Base64URL.encode(header.utf8) + "." + Base64URL.encode(claims.utf8) + "." + sig
        }
        let header = #"{"alg":"HS256","typ":"JWT"}"#
        let good = #"{"sub":"e","pub":true,"scopes":[],"iat":1,"exp":2}"#
        XCTAssertNotNil(PublicToken.decodeUnverified(token(header, good)))
        XCTAssertNil(PublicToken.decodeUnverified(token(#"{"alg":"none"}"#, good)), "alg none")
        XCTAssertNil(PublicToken.decodeUnverified(token(#"{"alg":"HS512"}"#, good)))
        XCTAssertNil(PublicToken.decodeUnverified(token(header, #"{"sub":"e","pub":false,"exp":2}"#)), "pub false")
        XCTAssertNil(PublicToken.decodeUnverified(token(header, #"{"sub":"e","exp":2}"#)), "no pub")
        XCTAssertNil(PublicToken.decodeUnverified(token(header, #"{"pub":true,"exp":2}"#)), "no sub")
        XCTAssertNil(PublicToken.decodeUnverified(token(header, #"{"sub":"e","pub":true}"#)), "no exp")
        XCTAssertNil(PublicToken.decodeUnverified(token(header, #"{"sub":"e","pub":true,"exp":2,"scopes":"admin"}"#)))
        XCTAssertNil(PublicToken.decodeUnverified(token(header, "not json")))
        XCTAssertNil(PublicToken.decodeUnverified("abc"))
        XCTAssertNil(PublicToken.decodeUnverified("a.b"))
        XCTAssertNil(PublicToken.decodeUnverified("a!.b.c"))
        XCTAssertNil(PublicToken.decodeUnverified("tr_dev_secret"))
    }

    func testBase64URL() {
        for n in 0..<10 {
            let input = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 77 + 250) }
            let encoded = Base64URL.encode(input)
            XCTAssertFalse(encoded.contains("=") || encoded.contains("+") || encoded.contains("/"))
            XCTAssertEqual(Base64URL.decode(encoded), input)
        }
        XCTAssertEqual(Base64URL.encode([0xFB, 0xFF]), "-_8")
        XCTAssertNil(Base64URL.decode("A"))
        XCTAssertNil(Base64URL.decode("AA=="))
        XCTAssertNil(Base64URL.decode("A+B/"))
    }
}
