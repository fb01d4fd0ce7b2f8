// ListQueryTests.swift — GET /api/v1/sessions query parsing.

import XCTest
@testable import RelayCore

final class ListQueryTests: XCTestCase {
    let now: Int64 = 1_795_456_432_123

    private func parse(_ query: String) throws -> ListQuery {
        try ListQuery.parse(QueryString.parse(query), nowMs: now)
    }

    func testDefaults() throws {
        let q = try parse("")
        XCTAssertEqual(q, ListQuery())
        XCTAssertEqual(q.pageSize, 20)
        XCTAssertEqual(q.cursor, .none)
    }

    func testPageSize() throws {
        XCTAssertEqual(try parse("page[size]=1").pageSize, 1)
        XCTAssertEqual(try parse("page%5Bsize%5D=100").pageSize, 100)
        for bad in ["0", "101", "-1", "ten", "", "1.5", "99999999999999999999"] {
            assertAPIError(400, "page[size]") { try self.parse("page[size]=" + bad) }
        }
    }

    func testCursors() throws {
        XCTAssertEqual(try parse("page[after]=session_a").cursor, .after("session_a"))
        XCTAssertEqual(try parse("page[before]=session_b").cursor, .before("session_b"))
        assertAPIError(400, "page[after] and page[before]") { try self.parse("page[after]=a&page[before]=b") }
        assertAPIError(400, "page[after]") { try self.parse("page[after]=") }
    }

    func testListFilters() throws {
        let q = try parse("filter[type]=chat.agent,,other&filter[tags]=a,b&filter[tags]=c&filter[taskIdentifier]=t1"
                          + "&filter[externalId]=chat%3A1,x&unknown=1")
        XCTAssertEqual(q.types, ["chat.agent", "other"])
        XCTAssertEqual(q.tags, ["a", "b", "c"])
        XCTAssertEqual(q.taskIdentifiers, ["t1"])
        XCTAssertEqual(q.externalIds, ["chat:1", "x"])
    }

    func testStatusFilter() throws {
        XCTAssertEqual(try parse("filter[status]=ACTIVE,CLOSED").statuses, [.active, .closed])
        XCTAssertEqual(try parse("filter[status]=expired").statuses, [.expired])
        XCTAssertEqual(try parse("filter[status]=").statuses, [])
        assertAPIError(400, "filter[status]") { try self.parse("filter[status]=ACTIVE,DONE") }
    }

    func testCreatedAtPeriod() throws {
        let units: [(String, Int64)] = [("30s", 30_000), ("15m", 900_000), ("2h", 7_200_000), ("7d", 604_800_000), ("1w", 604_800_000)]
        for (p, ms) in units {
            XCTAssertEqual(try parse("filter[createdAt][period]=" + p).createdFrom, now - ms, p)
        }
        for bad in ["", "7", "d", "7y", "-1d", "0d", "1.5h", "7 d"] {
            assertAPIError(400, "filter[createdAt][period]") { try self.parse("filter[createdAt][period]=" + bad) }
        }
    }

    func testCreatedAtRange() throws {
        let q = try parse("filter[createdAt][from]=2026-11-23T17:53:52.123Z&filter[createdAt][to]=1795456499999")
        XCTAssertEqual(q.createdFrom, 1_795_456_432_123)
        XCTAssertEqual(q.createdTo, 1_795_456_499_999)
        let offset = try parse("filter[createdAt][from]=2026-11-23T18:53:52%2B01:00")
        XCTAssertEqual(offset.createdFrom, 1_795_456_432_000)
        assertAPIError(400, "filter[createdAt][from]") { try self.parse("filter[createdAt][from]=yesterday") }
        assertAPIError(400, "filter[createdAt][to]") { try self.parse("filter[createdAt][to]=") }
    }
}
