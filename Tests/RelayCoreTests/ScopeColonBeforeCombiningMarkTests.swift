// Found by Fuzz/fuzz_token: Scope.parse split on Characters, so a ':' followed by a combining
// mark (U+0301, one grapheme with the colon) did not separate parts: "write:tas:\u{301}kb:sc"
// gave the type "tas:\u{301}kb" (a ':' inside the type) and the id "sc".
import XCTest
@testable import RelayCore

final class ScopeColonBeforeCombiningMarkTests: XCTestCase {
    func testColonFollowedByCombiningMarkStillSeparates() {
        let scope = Scope.parse("write:tas:\u{301}kb:sc")
        XCTAssertEqual(scope?.action, "write")
        XCTAssertEqual(scope?.type, "tas")
        XCTAssertEqual(scope?.id, "\u{301}kb:sc")
        XCTAssertEqual(Scope.parse("read:\u{301}sessions")?.type, "\u{301}sessions")
    }

    func testOrdinaryScopes() {
        XCTAssertEqual(Scope.parse("read:sessions:chat:1"), Scope(action: "read", type: "sessions", id: "chat:1"))
        XCTAssertEqual(Scope.parse("write:sessions"), Scope(action: "write", type: "sessions"))
        XCTAssertTrue(Scope.parse("admin")?.isAdmin == true)
        XCTAssertNil(Scope.parse("read::x"))
        XCTAssertNil(Scope.parse("read:sessions:"))
        XCTAssertNil(Scope.parse("read"))
    }
}
