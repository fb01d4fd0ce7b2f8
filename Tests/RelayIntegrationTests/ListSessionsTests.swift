// ListSessionsTests.swift: GET /api/v1/sessions (docs/API.md, Sessions): order, cursors, page
// sizes and filters. Every test lists only rows of a type it made up, so the tests of the
// class do not see each other's sessions.

import XCTest
import Foundation

final class ListSessionsTests: RelayTestCase {

    /// One page of a list response.
    private struct Page {
        var rows: [JSON]
        var ids: [String]
        var next: String?
        var previous: String?
    }

    // MARK: Paging

    func testPagingForwardAndBackThrough250FilteredSessions() throws {
        let type = unique("paged")
        let tagA = unique("a"), tagB = unique("b"), tagC = unique("c")
        // 250 matching rows (type and one of tagA/tagB), spread among 25 that fail one of the filters.
        var specs: [(type: String, tags: [String])] = (0..<250).map { (type, [$0 % 2 == 0 ? tagA : tagB, "row-\($0)"]) }
        specs += (0..<15).map { _ in (type, [tagC]) }
        specs += (0..<10).map { _ in (unique("other-type"), [tagA]) }
        specs.shuffle()
        let rows = try createConcurrently(specs.map { sessionBody(type: $0.type, tags: $0.tags) })
        let expected = newestFirst(rows.filter { row in
            row["type"]?.stringValue == type && [tagA, tagB].contains { row["tags"]?.arrayValue?.contains(.string($0)) == true }
        })
        XCTAssertEqual(expected.count, 250)

        let filter = [("filter[type]", type), ("filter[tags]", "\(tagA),\(tagB)"), ("page[size]", "37")]

        // Forward: 6 full pages of 37, then 28.
        var forward: [Page] = []
        var cursor: String?
        repeat {
            let page = try listPage(filter + (cursor.map { [("page[after]", $0)] } ?? []))
            forward.append(page)
            cursor = page.next
        } while cursor != nil && forward.count < 20
        XCTAssertEqual(forward.map(\.ids.count), [37, 37, 37, 37, 37, 37, 28], "page sizes walking forward")
        XCTAssertEqual(forward.flatMap(\.ids), expected, "forward walk: every row once, newest first")
        for (index, page) in forward.enumerated() where !page.ids.isEmpty {
            XCTAssertEqual(page.next, index == forward.count - 1 ? nil : page.ids.last, "next of forward page \(index)")
            XCTAssertEqual(page.previous, index == 0 ? nil : page.ids.first, "previous of forward page \(index)")
        }
        for row in forward.flatMap(\.rows) { assertSessionRow(row) }

        // Back from the last page with page[before]: the same pages in reverse.
        var backward: [Page] = []
        cursor = forward.last?.previous
        while let before = cursor, backward.count < 20 {
            let page = try listPage(filter + [("page[before]", before)])
            backward.append(page)
            cursor = page.previous
        }
        XCTAssertEqual(backward.map(\.ids), forward.dropLast().reversed().map(\.ids), "backward walk")
        for (index, page) in backward.enumerated() where !page.ids.isEmpty {
            XCTAssertEqual(page.next, page.ids.last, "next of backward page \(index): rows follow")
            XCTAssertEqual(page.previous, index == backward.count - 1 ? nil : page.ids.first,
                           "previous of backward page \(index)")
        }
    }

    /// "A page is never short while more matching rows exist": fewer than a page of rows before
    /// the cursor gives the first full page (the rows that precede, then the ones that follow).
    func testPageBeforeNearTheStartIsTheFirstFullPage() throws {
        let type = unique("near-start")
        let expected = newestFirst(try createConcurrently((0..<12).map { _ in sessionBody(type: type) }))
        let page = try listPage([("filter[type]", type), ("page[size]", "5"), ("page[before]", expected[3])])
        XCTAssertEqual(page.ids, Array(expected[0..<5]), "the first page, not 3 rows")
        XCTAssertNil(page.previous, "no rows precede")
        XCTAssertEqual(page.next, expected[4])

        let after = try listPage([("filter[type]", type), ("page[size]", "5"), ("page[after]", expected[8])])
        XCTAssertEqual(after.ids, Array(expected[9...]), "the 3 rows after the 9th")
        XCTAssertNil(after.next, "no rows follow")
        XCTAssertEqual(after.previous, expected[9])
    }

    func testDefaultPageSizeIs20AndSizeIsBounded() throws {
        let type = unique("sized")
        let expected = newestFirst(try createConcurrently((0..<25).map { _ in sessionBody(type: type) }))

        let first = try listPage([("filter[type]", type)])
        XCTAssertEqual(first.ids, Array(expected[0..<20]), "default page size is 20")
        XCTAssertEqual(first.next, expected[19])
        XCTAssertNil(first.previous)
        let rest = try listPage([("filter[type]", type), ("page[after]", try XCTUnwrap(first.next))])
        XCTAssertEqual(rest.ids, Array(expected[20...]))
        XCTAssertNil(rest.next)

        XCTAssertEqual(try listPage([("filter[type]", type), ("page[size]", "100")]).ids, expected)
        XCTAssertEqual(try listPage([("filter[type]", type), ("page[size]", "1")]).ids, [expected[0]])

        for size in ["0", "101", "-1", "ten"] {
            assertError(try api.listSessions([("filter[type]", type), ("page[size]", size)]), 400,
                        mentioning: ["page[size]"], "page[size]=\(size)")
        }
        assertError(try api.listSessions([("filter[type]", type), ("page[after]", expected[3]), ("page[before]", expected[9])]),
                    400, "page[after] and page[before] together")
    }

    // MARK: Filters

    func testFiltersByTypeTagsTaskIdentifierAndExternalId() throws {
        let type1 = unique("t1"), type2 = unique("t2")
        let taskA = unique("task-a"), taskB = unique("task-b")
        let tagX = unique("x"), tagY = unique("y"), tagZ = unique("z")
        let ext1 = unique("e1"), ext2 = unique("e2"), ext4 = unique("e4")
        let s1 = try createSession(type: type1, taskIdentifier: taskA, externalId: ext1, tags: [tagX])
        let s2 = try createSession(type: type1, taskIdentifier: taskB, externalId: ext2, tags: [tagY, tagZ])
        let s3 = try createSession(type: type2, taskIdentifier: taskA, tags: [tagZ])
        let s4 = try createSession(type: type2, taskIdentifier: taskB, externalId: ext4, tags: [])
        let bothTypes = ("filter[type]", "\(type1),\(type2)")

        try assertListed([("filter[type]", type1)], [s1, s2], "type")
        try assertListed([bothTypes], [s1, s2, s3, s4], "two types")
        try assertListed([bothTypes, ("filter[tags]", "\(tagX),\(tagZ)")], [s1, s2, s3], "tags: any of")
        try assertListed([("filter[tags]", tagY)], [s2], "one tag")
        try assertListed([bothTypes, ("filter[taskIdentifier]", taskA)], [s1, s3], "taskIdentifier")
        try assertListed([("filter[taskIdentifier]", "\(taskA),\(taskB)")], [s1, s2, s3, s4], "two taskIdentifiers")
        try assertListed([("filter[externalId]", "\(ext1),\(ext4)")], [s1, s4], "externalId")
        try assertListed([("filter[type]", type2), ("filter[taskIdentifier]", taskA)], [s3], "filters combine with AND")
        try assertListed([("filter[type]", type1), ("filter[tags]", tagZ)], [s2], "type and tags")
        try assertListed([("filter[type]", unique("nothing"))], [], "no match")

        // As browsers' URLSearchParams send it: brackets and commas percent-encoded.
        let encoded = "/api/v1/sessions?filter%5Btype%5D=\(type1)%2C\(type2)&filter%5Btags%5D=\(tagX)%2C\(tagY)"
        let response = try api.http.request("GET", encoded)
        let body = try assertStatus(response, 200, "fully percent-encoded query")
        XCTAssertEqual(body["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, newestFirst([s1, s2]))
    }

    func testFiltersByStatus() throws {
        let type = unique("status")
        let active = try createSession(type: type)
        let closed = try createSession(type: type)
        XCTAssertEqual(try api.closeSession(try XCTUnwrap(closed["id"]?.stringValue)).status, 200)
        let expired = try createExpiredSession(sessionBody(type: type))
        let ofType = ("filter[type]", type)

        try assertListed([ofType], [active, closed, expired], "no status filter")
        try assertListed([ofType, ("filter[status]", "ACTIVE")], [active], "ACTIVE")
        try assertListed([ofType, ("filter[status]", "CLOSED")], [closed], "CLOSED")
        try assertListed([ofType, ("filter[status]", "EXPIRED")], [expired], "EXPIRED")
        try assertListed([ofType, ("filter[status]", "ACTIVE,EXPIRED")], [active, expired], "ACTIVE,EXPIRED")
        let rows = try listPage([ofType, ("filter[status]", "CLOSED,EXPIRED")]).rows
        XCTAssertEqual(Set(rows.compactMap { $0["status"]?.stringValue }), ["CLOSED", "EXPIRED"], "rows carry their status")
    }

    func testFiltersByCreatedAtFromAndTo() throws {
        let type = unique("created")
        let first = try createSession(type: type)
        try waitForClock(toPass: first, by: 0.05)
        let second = try createSession(type: type)
        try waitForClock(toPass: second, by: 0.05)
        let third = try createSession(type: type)
        let times = [first, second, third].map { RFC3339.epochMilliseconds($0["createdAt"]?.stringValue ?? "") }
        XCTAssertTrue(times[0] + 2 < times[1] && times[1] + 2 < times[2], "createdAt values apart: \(times)")
        // Boundaries strictly between rows, so inclusive or exclusive bounds give the same answer.
        let between12 = (times[0] + times[1]) / 2, between23 = (times[1] + times[2]) / 2
        let rfc = { (ms: Int64) in RFC3339.format(RFC3339.date(epochMilliseconds: ms)) }
        let ofType = ("filter[type]", type)

        try assertListed([ofType, ("filter[createdAt][from]", rfc(between12))], [second, third], "from, RFC 3339")
        try assertListed([ofType, ("filter[createdAt][to]", rfc(between12))], [first], "to, RFC 3339")
        try assertListed([ofType, ("filter[createdAt][from]", rfc(between12)), ("filter[createdAt][to]", rfc(between23))],
                         [second], "from and to, RFC 3339")
        try assertListed([ofType, ("filter[createdAt][from]", String(between23))], [third], "from, epoch ms")
        try assertListed([ofType, ("filter[createdAt][from]", String(between12)), ("filter[createdAt][to]", String(between23))],
                         [second], "from and to, epoch ms")
        try assertListed([ofType, ("filter[createdAt][from]", rfc(times[0] - 60_000)),
                          ("filter[createdAt][to]", rfc(times[2] + 60_000))], [first, second, third], "a wide window")
    }

    func testFiltersByCreatedAtPeriod() throws {
        let type = unique("period")
        let old = try createSession(type: type)
        // The period filter is about wall-clock age: the older row has to age past it.
        try waitForClock(toPass: old, by: 3.5)
        let recent = try createSession(type: type)
        let ofType = ("filter[type]", type)

        try assertListed([ofType, ("filter[createdAt][period]", "3s")], [recent], "3s")
        for period in ["30s", "15m", "2h", "7d", "1w"] {
            try assertListed([ofType, ("filter[createdAt][period]", period)], [old, recent], period)
        }
    }

    // MARK: Helpers

    /// Lists with `query` (escaped) and secret-key auth; checks the response shape.
    private func listPage(_ query: [(String, String)], file: StaticString = #filePath, line: UInt = #line) throws -> Page {
        let body = try assertStatus(api.listSessions(query), 200, "list \(query)", file: file, line: line)
        let rows = try XCTUnwrap(body["data"]?.arrayValue, "data: \(body)", file: file, line: line)
        let pagination = try XCTUnwrap(body["pagination"], "pagination: \(body)", file: file, line: line)
        for key in ["next", "previous"] {
            let value = pagination[key]
            XCTAssertTrue(value == .null || value?.stringValue != nil, "pagination.\(key) must be an id or null: \(body)",
                          file: file, line: line)
        }
        let ids = rows.map { $0["id"]?.stringValue ?? "<no id>" }
        XCTAssertEqual(Set(ids).count, ids.count, "duplicate rows in one page: \(ids)", file: file, line: line)
        return Page(rows: rows, ids: ids, next: pagination["next"]?.stringValue,
                    previous: pagination["previous"]?.stringValue)
    }

    /// Asserts the list for `query` is exactly `rows`, newest first, on one page.
    private func assertListed(_ query: [(String, String)], _ rows: [JSON], _ name: String,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let page = try listPage(query + [("page[size]", "100")], file: file, line: line)
        XCTAssertEqual(page.ids, newestFirst(rows), name, file: file, line: line)
        XCTAssertNil(page.next, "\(name): everything fits one page", file: file, line: line)
    }

    /// Ids in list order: createdAt descending, then id descending.
    private func newestFirst(_ rows: [JSON]) -> [String] {
        rows.map { (createdAt: RFC3339.epochMilliseconds($0["createdAt"]?.stringValue ?? ""), id: $0["id"]?.stringValue ?? "") }
            .sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id > $1.id }
            .map(\.id)
    }

    /// Creates sessions on 8 threads (so many share a millisecond and the id tie-break matters).
    private func createConcurrently(_ bodies: [JSON]) throws -> [JSON] {
        let api = self.api
        return try concurrentMap(bodies.count, threads: 8) { index in
            let response = try api.createSession(bodies[index])
            guard response.status == 201 else { throw HarnessError("create \(bodies[index]): \(response)") }
            return try response.json()
        }
    }

    /// Waits until the local clock (the relay's too: same machine) is `seconds` past `row`'s createdAt.
    private func waitForClock(toPass row: JSON, by seconds: TimeInterval) throws {
        let createdAt = try XCTUnwrap(RFC3339.parse(row["createdAt"]?.stringValue ?? ""), "createdAt: \(row)")
        try waitUntil(timeout: seconds + 5, interval: 0.01, "the clock to pass createdAt + \(seconds) s") {
            Date() >= createdAt.addingTimeInterval(seconds)
        }
    }
}
