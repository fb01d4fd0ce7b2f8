// Found by Fuzz/fuzz_token: Authenticator.bearerCredential refused a space inside the
// credential but not a tab, and compared Characters, so a space followed by a combining mark
// (one grapheme) also got through: "Bearer abc\tdef" gave the credential "abc\tdef".
import XCTest
@testable import RelayCore

final class BearerCredentialInnerWhitespaceTests: XCTestCase {
    func testTabInsideTheCredentialIsRefused() {
        XCTAssertNil(Authenticator.bearerCredential("Bearer abc\tdef"))
        XCTAssertNil(Authenticator.bearerCredential("Bearer abc def"))
    }

    func testSpaceBeforeACombiningMarkIsStillASpace() {
        XCTAssertNil(Authenticator.bearerCredential("Bearer abc \u{301}def"))
        // After the scheme it separates, so the credential is the mark and what follows.
        XCTAssertEqual(Authenticator.bearerCredential("Bearer \u{301}def"), "\u{301}def")
    }

    func testOrdinaryForms() {
        XCTAssertEqual(Authenticator.bearerCredential("Bearer tr_dev_a"), "tr_dev_a")
        XCTAssertEqual(Authenticator.bearerCredential(" \tbEaReR \t tok.en \t"), "tok.en")
        XCTAssertNil(Authenticator.bearerCredential("Bearer"))
        XCTAssertNil(Authenticator.bearerCredential("Bearer "))
        XCTAssertNil(Authenticator.bearerCredential("Basic dHI6eA=="))
        XCTAssertNil(Authenticator.bearerCredential("Bearertr_dev_a"))
    }
}
