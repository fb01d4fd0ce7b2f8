// ClusterClientTests: the command router against a real cluster (scripts/dev-cluster: three
// primaries, three replicas): routing by slot, MOVED, ASK during a slot migration, scripts,
// and WAIT for replicas. Failover has its own cluster (ClusterFailoverTests).
import Glibc
import Logging
import XCTest
@testable import RelayRedis
@testable import RelayStorage
import RelayIO

final class ClusterClientTests: ClusterClientTestCase {
    private func send(_ key: String?, _ args: String...) -> RedisReply? {
        loop.wait(10) { done in client.send(key: key, args, done) }
    }

    private func run(_ script: LuaScript, _ keys: [String], _ args: [String], waitReplicas: Int = 0) -> RedisReply? {
        loop.wait(10) { done in
            client.run(script, keys: keys.map { Array($0.utf8) }, args.map { Array($0.utf8) }, waitReplicas: waitReplicas, done)
        }
    }

    private func owner(_ key: String) throws -> RedisEndpoint {
        try XCTUnwrap(client.primary(slot: ClusterSlot.of(key)))
    }

    func testCommandsRouteToTheOwningPrimary() throws {
        let cluster = try XCTUnwrap(self.cluster)
        let keys = (0..<60).map { "route:\($0)" } + ["{user1000}.following", "{user1000}.followers"]
        let replies = try XCTUnwrap(loop.replies(10, keys.map { key in { self.client.send(key: key, ["SET", key, "v:\(key)"], $0) } }))
        XCTAssertEqual(replies, Array(repeating: .status("OK"), count: keys.count))
        XCTAssertEqual(client.stats.moved, 0, "no command went to a node that does not own its slot")
        XCTAssertEqual(client.stats.asked, 0)
        XCTAssertEqual(client.stats.retries, 0)

        var owners: Set<Int> = []
        for key in keys {
            let owner = try owner(key)
            owners.insert(owner.port)
            // Redis agrees on the slot, and the owner has the key (a plain redis-cli on another
            // node would get MOVED).
            if key.hasPrefix("{") || key.hasSuffix("0") {
                XCTAssertEqual(cluster.cli(owner.port, "CLUSTER", "KEYSLOT", key), String(ClusterSlot.of(key)), key)
            }
            XCTAssertEqual(cluster.cli(owner.port, "GET", key), "v:\(key)", "\(key) on \(owner)")
        }
        XCTAssertEqual(owners.count, 3, "the keys spread over the three primaries")

        // Keys of one hash tag share a slot: multi-key commands work; nil key goes anywhere.
        XCTAssertEqual(send("{user1000}.following", "MGET", "{user1000}.following", "{user1000}.followers"),
                       .array([.bulk(Array("v:{user1000}.following".utf8)), .bulk(Array("v:{user1000}.followers".utf8))]))
        XCTAssertEqual(send(nil, "PING"), .status("PONG"))
        XCTAssertEqual(client.stats.moved, 0)
    }

    func testMovedIsFollowedAndFixesTheMap() throws {
        let key = "moved:key"
        let slot = ClusterSlot.of(key)
        let right = try owner(key)
        let wrong = try XCTUnwrap(client.primaries.first { $0 != right })
        var changes = 0
        client.onChange.append { changes += 1 }

        client.moved(slot: slot, to: wrong)   // a stale entry, as after a resharding
        XCTAssertEqual(client.primary(slot: slot), wrong)
        XCTAssertEqual(send(key, "SET", key, "1"), .status("OK"))
        XCTAssertEqual(client.stats.moved, 1, "the wrong node answered MOVED, which was followed")
        XCTAssertEqual(client.primary(slot: slot), right, "MOVED put the slot back at once")
        XCTAssertGreaterThanOrEqual(changes, 2)
        XCTAssertEqual(send(key, "GET", key), .bulk(Array("1".utf8)))
        XCTAssertEqual(client.stats.moved, 1, "the next command goes straight to the owner")
        XCTAssertNotNil(client.topology)
    }

    func testAskDuringASlotMigrationIsFollowedWithAsking() throws {
        let cluster = try XCTUnwrap(self.cluster)
        let key = "{ask}moving"
        let staying = "{ask}staying"
        let slot = ClusterSlot.of(key)
        let source = try owner(key)
        let target = try XCTUnwrap(client.primaries.first { $0 != source })
        let sourceID = cluster.cli(source.port, "CLUSTER", "MYID")
        let targetID = cluster.cli(target.port, "CLUSTER", "MYID")
        XCTAssertEqual(send(key, "SET", key, "moved-value"), .status("OK"))
        XCTAssertEqual(send(staying, "SET", staying, "stayed"), .status("OK"))

        // Migrate the slot by hand, moving only `key` for now.
        XCTAssertEqual(cluster.cli(target.port, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID), "OK")
        XCTAssertEqual(cluster.cli(source.port, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID), "OK")
        defer {
            // Back as it was: the key leaves the target (ASKING: the target does not own the
            // slot yet), both nodes forget the migration.
            _ = cluster.cli(target.port, script: ["ASKING", "DEL \(key)"])
            _ = cluster.cli(target.port, "CLUSTER", "SETSLOT", String(slot), "STABLE")
            _ = cluster.cli(source.port, "CLUSTER", "SETSLOT", String(slot), "STABLE")
        }
        XCTAssertEqual(cluster.cli(source.port, "MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", key), "OK")

        XCTAssertEqual(send(key, "GET", key), .bulk(Array("moved-value".utf8)))
        XCTAssertEqual(client.stats.asked, 1, "the source answered ASK; ASKING + GET went to the target")
        XCTAssertEqual(client.primary(slot: slot), source, "ASK does not change the map")
        XCTAssertEqual(send(staying, "GET", staying), .bulk(Array("stayed".utf8)))
        XCTAssertEqual(client.stats.asked, 1, "a key still on the source is served there")

        // Scripts too: the first run is EVAL (sha unknown), the second EVALSHA, both after ASKING.
        let get = LuaScript(name: "test_get", source: Array("return redis.call('GET', KEYS[1])".utf8))
        XCTAssertEqual(run(get, [key], []), .bulk(Array("moved-value".utf8)))
        XCTAssertEqual(run(get, [key], []), .bulk(Array("moved-value".utf8)))
        XCTAssertEqual(client.stats.asked, 3)
        XCTAssertEqual(client.stats.moved, 0)
        XCTAssertEqual(client.primary(slot: slot), source)
    }

    func testScriptRunsOnTheOwningPrimary() throws {
        let cluster = try XCTUnwrap(self.cluster)
        let script = LuaScript(name: "test_set_two", source: Array("""
            redis.call('SET', KEYS[1], ARGV[1])
            redis.call('SET', KEYS[2], ARGV[1])
            return redis.call('MGET', KEYS[1], KEYS[2])
            """.utf8))
        for i in 0..<10 {
            let keys = ["{s:script\(i)}:a", "{s:script\(i)}:b"]
            XCTAssertEqual(run(script, keys, ["x\(i)"]), .array([.bulk(Array("x\(i)".utf8)), .bulk(Array("x\(i)".utf8))]))
            XCTAssertEqual(cluster.cli(try owner(keys[0]).port, "GET", keys[1]), "x\(i)")
        }
        XCTAssertEqual(client.stats.moved, 0)
        // Keys of two slots in one script: Redis refuses, and that is handed back, not retried.
        let twoSlots = ["{a}x", "{b}x"]
        XCTAssertNotEqual(ClusterSlot.of(twoSlots[0]), ClusterSlot.of(twoSlots[1]))
        let reply = run(script, twoSlots, ["y"])
        XCTAssertTrue(reply?.errorMessage?.hasPrefix("CROSSSLOT") == true, "\(String(describing: reply))")
        XCTAssertEqual(client.stats.retries, 0)
    }

    func testWaitForReplicas() throws {
        let cluster = try XCTUnwrap(self.cluster)
        let set = LuaScript(name: "test_set", source: Array("return redis.call('SET', KEYS[1], ARGV[1])".utf8))
        let key = "{wait}key"
        XCTAssertEqual(run(set, [key], ["1"], waitReplicas: 1), .status("OK"), "one replica confirms")

        // Stop the owner's replica: the write lands on the primary, WAIT times out, the
        // caller hears notReplicated (503) after the WAIT timeout, not later.
        let primary = try owner(key)
        let replica = try XCTUnwrap(cluster.replicaPort(ofPrimary: primary.port))
        let pid = try XCTUnwrap(cluster.pid(port: replica))
        try connect(RedisNodeOptions(waitTimeoutMilliseconds: 300, replicatedWrites: true, subscriptions: false))
        XCTAssertEqual(kill(pid, SIGSTOP), 0)
        let started = Clock.monotonicSeconds()
        let paused = run(set, [key], ["2"], waitReplicas: 1)
        let elapsed = Clock.monotonicSeconds() - started
        XCTAssertEqual(kill(pid, SIGCONT), 0)
        XCTAssertEqual(paused, .failure(.notReplicated))
        XCTAssertGreaterThanOrEqual(elapsed, 0.29)
        XCTAssertLessThan(elapsed, 1.5)
        XCTAssertEqual(cluster.cli(primary.port, "GET", key), "2", "the write itself is on the primary")

        // Running again: the replica catches up and confirms (bounded by the WAIT timeout per try).
        try connect(RedisNodeOptions(waitTimeoutMilliseconds: 2000, replicatedWrites: true, subscriptions: false))
        XCTAssertEqual(run(set, [key], ["3"], waitReplicas: 1), .status("OK"))
        // More replicas than the shard has can never confirm.
        try connect(RedisNodeOptions(waitTimeoutMilliseconds: 200, replicatedWrites: true, subscriptions: false))
        XCTAssertEqual(run(set, [key], ["4"], waitReplicas: 2), .failure(.notReplicated))
        XCTAssertEqual(client.stats.moved, 0)
    }

    /// Two keys of one slot, the slot being migrated from its owner to another primary, the
    /// first key moved already, the second one not existing yet (a script creates it, as the
    /// append script does its dedup key): a script on both gets ASK from the source (it has
    /// neither) and TRYAGAIN from the target (it has only one: "multiple keys request during
    /// rehashing"). (A source holding one of the keys answers TRYAGAIN itself.)
    private func splitSlot(_ tag: String) throws -> (keys: [String], slot: Int, source: RedisEndpoint, target: RedisEndpoint) {
        let cluster = try XCTUnwrap(self.cluster)
        let keys = ["{\(tag)}moved", "{\(tag)}staying"]
        let slot = ClusterSlot.of(keys[0])
        let source = try owner(keys[0])
        let target = try XCTUnwrap(client.primaries.first { $0 != source })
        XCTAssertEqual(send(keys[0], "SET", keys[0], "v:\(keys[0])"), .status("OK"))
        XCTAssertEqual(send(keys[1], "DEL", keys[1]), .integer(0))
        XCTAssertEqual(cluster.cli(target.port, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", cluster.cli(source.port, "CLUSTER", "MYID")), "OK")
        XCTAssertEqual(cluster.cli(source.port, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", cluster.cli(target.port, "CLUSTER", "MYID")), "OK")
        XCTAssertEqual(cluster.cli(source.port, "MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", keys[0]), "OK")
        return (keys, slot, source, target)
    }

    private static let getBoth = LuaScript(name: "test_get_set", source: Array("""
        redis.call('SET', KEYS[2], 'v:' .. KEYS[2])
        return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
        """.utf8))

    func testTryAgainDuringAMigrationIsRetriedUntilTheMigrationEnds() throws {
        let cluster = try XCTUnwrap(self.cluster)
        let (keys, slot, source, target) = try splitSlot("tryagain")
        let others = client.primaries.filter { $0 != source && $0 != target }
        // Finish the migration 0.8 s in: more than the five redirections the router allows
        // (ASK, TRYAGAIN, backoff 20 ms doubling: about 0.5 s), well inside the 2 s deadline.
        // The admin commands block the loop for a moment; that is fine here.
        var finishedAt = 0.0
        let finish = loop.after(0.8) {
            let targetID = cluster.cli(target.port, "CLUSTER", "MYID")
            for node in [target, source] + others {
                XCTAssertEqual(cluster.cli(node.port, "CLUSTER", "SETSLOT", String(slot), "NODE", targetID), "OK")
            }
            finishedAt = Clock.monotonicSeconds()
        }
        defer { finish.cancel() }
        let started = Clock.monotonicSeconds()
        let reply = run(Self.getBoth, keys, [])
        let elapsed = Clock.monotonicSeconds() - started
        XCTAssertEqual(reply, .array(keys.map { .bulk(Array("v:\($0)".utf8)) }), "answered once the migration ended")
        XCTAssertGreaterThan(finishedAt, 0)
        XCTAssertGreaterThanOrEqual(elapsed, 0.8)
        XCTAssertLessThan(elapsed, client.commandTimeoutSeconds)
        XCTAssertGreaterThan(client.stats.asked, ClusterClient.maxRedirects, "more ASK → TRYAGAIN rounds than the redirection budget")
        XCTAssertGreaterThan(client.stats.retries, 0)
        XCTAssertEqual(client.primary(slot: slot), target, "MOVED from the source after the migration")
        // The slot stays on the target (later tests read the map afresh).
    }

    func testTheDeadlineBoundsACommandRetriedAndThenStuck() throws {
        let cluster = try XCTUnwrap(self.cluster)
        let (keys, slot, source, target) = try splitSlot("stuck")
        let targetPid = try XCTUnwrap(cluster.pid(port: target.port))
        defer {
            kill(targetPid, SIGCONT)
            _ = cluster.cli(target.port, script: ["ASKING", "DEL \(keys[0]) \(keys[1])"])
            _ = cluster.cli(target.port, "CLUSTER", "SETSLOT", String(slot), "STABLE")
            _ = cluster.cli(source.port, "CLUSTER", "SETSLOT", String(slot), "STABLE")
            _ = cluster.cli(source.port, "SET", keys[0], "v:\(keys[0])")
        }
        // ASK → TRYAGAIN for half a second, then the target stops answering (SIGSTOP, shorter
        // than cluster-node-timeout: no failover): the try out then must not outlive the deadline.
        try connect(RedisNodeOptions(commandTimeoutSeconds: 1.0, replicatedWrites: true, subscriptions: false))
        let stop = loop.after(0.5) { kill(targetPid, SIGSTOP) }
        defer { stop.cancel() }
        let started = Clock.monotonicSeconds()
        let reply = run(Self.getBoth, keys, [])
        let elapsed = Clock.monotonicSeconds() - started
        kill(targetPid, SIGCONT)
        print("retried then stuck: \(String(describing: reply)) after \(String(format: "%.3f", elapsed)) s (deadline 1 s)")
        XCTAssertNotNil(reply?.errorMessage, "\(String(describing: reply))")
        XCTAssertGreaterThanOrEqual(elapsed, 0.95)
        XCTAssertLessThan(elapsed, client.commandTimeoutSeconds + 0.3, "answered by the deadline")
    }

    func testTheDeadlineBoundsACommandToAStoppedPrimary() throws {
        let cluster = try XCTUnwrap(self.cluster)
        let key = "{stopped}key"
        let pid = try XCTUnwrap(cluster.pid(port: try owner(key).port))
        try connect(RedisNodeOptions(commandTimeoutSeconds: 1.0, replicatedWrites: true, subscriptions: false))
        XCTAssertEqual(kill(pid, SIGSTOP), 0)
        defer { kill(pid, SIGCONT) }
        let started = Clock.monotonicSeconds()
        let reply = send(key, "GET", key)
        let elapsed = Clock.monotonicSeconds() - started
        kill(pid, SIGCONT)
        print("stopped primary: \(String(describing: reply)) after \(String(format: "%.3f", elapsed)) s (deadline 1 s)")
        XCTAssertEqual(reply, .failure(.timedOut))
        XCTAssertGreaterThanOrEqual(elapsed, 0.95)
        XCTAssertLessThan(elapsed, client.commandTimeoutSeconds + 0.3)
        // The connection recovers once the primary runs again.
        XCTAssertTrue(loop.spin(timeout: 5) { self.client.allPrimariesConnected })
        XCTAssertEqual(send(key, "SET", key, "after"), .status("OK"))
    }

    func testStoppedClientFailsFast() throws {
        client.stop()
        XCTAssertEqual(send("k", "GET", "k"), .failure(.notConnected))
    }
}
