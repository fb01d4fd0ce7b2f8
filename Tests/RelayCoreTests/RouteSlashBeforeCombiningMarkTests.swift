// Found by Fuzz/fuzz_route: Route.parse split the path on Characters, so a '/' followed by a
// combining mark (U+0301) formed one grapheme and did not separate segments: the id of
// "/api/v1/sessions/s/\u{301}" came out as "s/\u{301}" instead of the path being refused.
import XCTest
@testable import RelayCore

final class RouteSlashBeforeCombiningMarkTests: XCTestCase {
    func testSlashFollowedByCombiningMarkStillSeparatesSegments() {
        // Five segments: api, v1, sessions, s, "\u{301}" — no route has that shape.
        XCTAssertNil(Route.parse(path: "/api/v1/sessions/s/\u{301}"))
        // The combining mark is the id itself when it is the fourth segment.
        XCTAssertEqual(Route.parse(path: "/api/v1/sessions/\u{301}"), .session("\u{301}"))
        XCTAssertNil(Route.parse(path: "/api/v1/sessions/a/\u{301}close"))
        XCTAssertEqual(Route.parse(path: "/api/v1/sessions/a%2Fb/close"), .closeSession("a/b"))
    }

    func testPathMustStartWithTheSlashByte() {
        XCTAssertNil(Route.parse(path: "/\u{301}healthz"))
        XCTAssertEqual(Route.parse(path: "/healthz/"), .healthz)
    }
}
