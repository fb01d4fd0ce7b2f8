// IndexSweeperTests.swift: once closed sessions' rows expire (retentionSeconds), the index
// sweeper removes them from the externalId hash and from every idx:* zset, without a list
// walking over them; live sessions keep their entries. Two nodes sweep the same Redis.

import XCTest
import Foundation

final class IndexSweeperTests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_RETENTION_SECONDS": "1", "RELAY_SWEEP_INTERVAL_SECONDS": "0.1"]
    }

    private let envKey = "relay:{env:\(TestEnvironments.devId)}"

    /// Members of every index zset of env_dev, by key.
    private func indexMembers(_ client: RedisClient) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for key in try client.keys("\(envKey):idx:*") {
            out[key] = try client.checked("ZRANGE", key, "0", "-1").array?.compactMap(\.string) ?? []
        }
        return out
    }

    func testClosedSessionsLeaveEveryIndexOnceTheirDataExpires() throws {
        let run = unique("sweep")
        let second = try RelayProcess(redisURL: redis.url, environment: Self.relayEnvironment)
        try second.start()
        defer { second.destroy() }

        // 200 sessions to close, each with its own type/task/tag indexes and a shared tag; one
        // that stays open shares the shared tag.
        var dead: [(id: String, externalId: String)] = []
        for i in 0..<200 {
            let externalId = "\(run)-\(i)"
            let created = try createSession(type: "t-\(run)-\(i)", taskIdentifier: "task-\(run)-\(i)", externalId: externalId,
                                            tags: ["tag-\(run)-\(i)", "shared-\(run)"])
            dead.append((try XCTUnwrap(created["id"]?.stringValue), externalId))
        }
        let liveExternal = "\(run)-live"
        let live = try XCTUnwrap(try createSession(type: "t-\(run)-live", taskIdentifier: "task-\(run)-live",
                                                   externalId: liveExternal, tags: ["shared-\(run)"])["id"]?.stringValue)
        for session in dead { try assertStatus(api.closeSession(session.id), 200, "close") }

        let client = try redis.client()
        defer { client.close() }
        let deadIds = Set(dead.map(\.id))
        let memberSid = { (member: String) in String(member.split(separator: ":", maxSplits: 1).last ?? "") }
        try waitUntil(timeout: 60, interval: 0.2, "the sweeper to drop all 200 sessions from every index") {
            let ext = try client.command(["HMGET", "\(envKey):ext"] + dead.map(\.externalId)).array ?? []
            guard ext.allSatisfy({ $0.string == nil }) else { return false }
            return try indexMembers(client).values.allSatisfy { members in
                !members.contains { deadIds.contains(memberSid($0)) }
            }
        }

        // The indexes only the dead sessions used are gone, and so are their registrations.
        let indexes = try indexMembers(client)
        XCTAssertNil(indexes["\(envKey):idx:type:t-\(run)-0"])
        XCTAssertNil(indexes["\(envKey):idx:tag:tag-\(run)-199"])
        let registered = try client.checked("ZRANGE", "\(envKey):indexes", "0", "-1").array?.compactMap(\.string) ?? []
        XCTAssertFalse(registered.contains("idx:task:task-\(run)-7"), "an emptied index is unregistered")

        // The live session keeps every entry.
        XCTAssertEqual(try client.checked("HGET", "\(envKey):ext", liveExternal).string, live)
        for name in ["idx:all", "idx:open", "idx:type:t-\(run)-live", "idx:task:task-\(run)-live", "idx:tag:shared-\(run)"] {
            XCTAssertEqual(indexes["\(envKey):\(name)"]?.filter { memberSid($0) == live }.count, 1, "\(name) keeps the live session")
        }
        XCTAssertTrue(registered.contains("idx:tag:shared-\(run)"))
        XCTAssertEqual(try retrieveSession(liveExternal)["id"]?.stringValue, live)
        let listed = try assertStatus(api.listSessions([("filter[tags]", "shared-\(run)")]), 200, "list")
        XCTAssertEqual(listed["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue }, [live])

        // Its work shows in the metrics (summed over both nodes: each swept part of the walk).
        let removed = try [relay.http, second.http].map { node -> Double in
            let text = try node.request("GET", "/metrics").text
            let line = text.split(separator: "\n").first { $0.hasPrefix("relay_index_sweep_removed_total") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        }
        XCTAssertGreaterThanOrEqual(removed.reduce(0, +), Double(200 * 6), "ext + all + closed + type + task + tag, at least: \(removed)")
    }
}
