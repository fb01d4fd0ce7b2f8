// RFC3339Tests.swift — timestamp formatting and parsing.

import XCTest
@testable import RelayCore

final class RFC3339Tests: XCTestCase {
    func testFormat() {
        XCTAssertEqual(RFC3339.format(milliseconds: 0), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(RFC3339.format(milliseconds: 1_795_456_432_123), "2026-11-23T17:53:52.123Z")
        XCTAssertEqual(RFC3339.format(milliseconds: 951_782_400_000), "2000-02-29T00:00:00.000Z")
        XCTAssertEqual(RFC3339.format(milliseconds: -1), "1969-12-31T23:59:59.999Z")
        XCTAssertEqual(RFC3339.format(milliseconds: 253_402_300_799_999), "9999-12-31T23:59:59.999Z")
    }

    func testParse() {
        XCTAssertEqual(RFC3339.parse("2026-11-23T17:53:52.123Z"), 1_795_456_432_123)
        XCTAssertEqual(RFC3339.parse("2026-11-23t17:53:52z"), 1_795_456_432_000)
        XCTAssertEqual(RFC3339.parse("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(RFC3339.parse("1970-01-01T01:00:00+01:00"), 0)
        XCTAssertEqual(RFC3339.parse("1969-12-31T19:30:00-04:30"), 0)
        XCTAssertEqual(RFC3339.parse("1970-01-01T00:00:00.5Z"), 500)
        XCTAssertEqual(RFC3339.parse("1970-01-01T00:00:00.12Z"), 120)
        XCTAssertEqual(RFC3339.parse("1970-01-01T00:00:00.123999999Z"), 123, "fraction truncated to ms")
        XCTAssertEqual(RFC3339.parse("2000-02-29T00:00:00Z"), 951_782_400_000)
        XCTAssertEqual(RFC3339.parse("2024-02-29T12:00:00Z"), 1_709_208_000_000)
        XCTAssertEqual(RFC3339.parse("1969-12-31T23:59:59.999Z"), -1)
    }

    func testParseRejects() {
        for s in ["", "2026-11-23", "2026-11-23T17:53:52", "2026-11-23 17:53:52Z", "2026-13-01T00:00:00Z",
                  "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
                  "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z",
                  "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+01:60",
                  "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00Zx", "26-01-01T00:00:00Z", "2026-1-01T00:00:00Z",
                  "2026-01-01T00:00:00 Z", "+2026-01-01T00:00:00Z"] {
            XCTAssertNil(RFC3339.parse(s), s)
        }
    }

    func testRoundTrip() {
        for ms: Int64 in [0, 1, 999, 86_399_999, 1_700_000_000_123, -86_400_001, 4_102_444_800_000, 68_256_000_000] {
            XCTAssertEqual(RFC3339.parse(RFC3339.format(milliseconds: ms)), ms)
        }
        // Every day across several leap cycles round-trips.
        var day: Int64 = -800
        while day < 20_000 {
            let ms = day * 86_400_000 + 12_345
            XCTAssertEqual(RFC3339.parse(RFC3339.format(milliseconds: ms)), ms)
            day += 7
        }
    }
}
