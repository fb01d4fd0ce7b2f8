// Found by Fuzz/fuzz_token: Base64URL.decode ignored the unused low bits of the last
// character, so "QQ" and "QR" both decoded to "A" and every token had four spellings of its
// signature's last character that all verified (a malleable credential).
import XCTest
@testable import RelayCore

final class Base64URLNonCanonicalTrailingBitsTests: XCTestCase {
    func testNonZeroTrailingBitsAreRefused() {
        XCTAssertEqual(Base64URL.decode("QQ"), [0x41])
        XCTAssertNil(Base64URL.decode("QR"))
        XCTAssertEqual(Base64URL.decode("QUI"), [0x41, 0x42])
        XCTAssertNil(Base64URL.decode("QUJ"))
        XCTAssertEqual(Base64URL.decode("QUJD"), [0x41, 0x42, 0x43])
        XCTAssertNil(Base64URL.decode("bearer"), "'r' leaves non-zero unused bits")
    }

    func testEveryDecodableStringIsTheCanonicalEncoding() {
        for text in ["", "AA", "AB", "AAA", "AAB", "_w", "_x", "__8", "__9"] {
            if let bytes = Base64URL.decode(text) { XCTAssertEqual(Base64URL.encode(bytes), text) }
        }
    }

    func testTokenWithAnotherSpellingOfItsSignatureDoesNotVerify() {
        let token = PublicToken.mint(environmentId: "env_dev", scopes: ["read:sessions:chat:1"],
                                     secret: "tr_dev_secret", issuedAt: 1_700_000_000)
        XCTAssertTrue(token.hasSuffix("E"))
        XCTAssertTrue(PublicToken.verifySignature(token, secret: "tr_dev_secret"))
        let respelled = String(token.dropLast()) + "F" // same 32 bytes before the fix
        XCTAssertFalse(PublicToken.verifySignature(respelled, secret: "tr_dev_secret"))
    }
}
