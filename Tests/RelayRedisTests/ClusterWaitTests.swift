// ClusterWaitTests: RELAY_REDIS_WAIT_REPLICAS against a real cluster whose replica lags (SIGSTOP):
// WAIT holds up only the writes that asked for it, never the shard's other commands, and no
// connection is dropped; with healthy replicas, concurrent waiting writes share WAITs.
import Glibc
import Logging
import XCTest
@testable import RelayRedis
@testable import RelayStorage
import RelayIO

final class ClusterWaitTests: ClusterClientTestCase {
    private static let set = LuaScript(name: "test_wait_set", source: Array("return redis.call('SET', KEYS[1], ARGV[1])".utf8))
    private static let get = LuaScript(name: "test_wait_get", source: Array("return redis.call('GET', KEYS[1])".utf8))

    /// Runs `writers` loops of waiting writes and one loop of plain commands (GET, XRANGE, a
    /// script without WAIT, one every 5 ms) on the shard of `tag` for `seconds`.
    private func load(tag: String, writers: Int, seconds: Double, waitReplicas: Int) -> WaitLoad {
        var result = WaitLoad()
        let end = Clock.monotonicSeconds() + seconds
        var running = writers + 1
        let keys = (0..<writers).map { "{\(tag)}w\($0)" }
        let readKey = "{\(tag)}r"
        let _: Void? = loop.wait(seconds + 10) { [client, loop] done in
            func write(_ i: Int) {
                guard Clock.monotonicSeconds() < end else {
                    running -= 1
                    return running == 0 ? done(()) : ()
                }
                let started = Clock.monotonicSeconds()
                client!.run(Self.set, keys: [Array(keys[i].utf8)], [Array("v".utf8)], waitReplicas: waitReplicas) { reply in
                    result.writes.append((Clock.monotonicSeconds() - started, reply))
                    write(i)
                }
            }
            var step = 0
            func read() {
                guard Clock.monotonicSeconds() < end else {
                    running -= 1
                    return running == 0 ? done(()) : ()
                }
                let started = Clock.monotonicSeconds()
                let finish = { (reply: RedisReply) in
                    result.reads.append((Clock.monotonicSeconds() - started, reply))
                    _ = loop!.after(0.005) { read() }
                }
                step += 1
                switch step % 3 {
                case 0: client!.send(key: readKey, ["GET", readKey], finish)
                case 1: client!.send(key: readKey, ["XRANGE", readKey, "-", "+", "COUNT", "1"], finish)
                default: client!.run(Self.get, keys: [readKey], [], finish)
                }
            }
            for i in 0..<writers { write(i) }
            read()
        }
        return result
    }

    func testALaggingReplicaHoldsUpOnlyTheWaitingWrites() throws {
        let cluster = try XCTUnwrap(self.cluster)
        let tag = "lag"
        let primary = try XCTUnwrap(client.primary(slot: ClusterSlot.of("{\(tag)}x")))
        let replica = try XCTUnwrap(cluster.replicaPort(ofPrimary: primary.port))
        let pid = try XCTUnwrap(cluster.pid(port: replica))
        var drops = 0
        client.onDisconnected.append { drops += 1 }

        XCTAssertEqual(kill(pid, SIGSTOP), 0)
        defer { kill(pid, SIGCONT) }
        let lagging = load(tag: tag, writers: 4, seconds: 4, waitReplicas: 1)
        kill(pid, SIGCONT)

        let slowestRead = lagging.reads.map(\.0).max() ?? 0
        let failedReads = lagging.reads.filter { $0.1.errorMessage != nil }
        print("lagging replica, WAIT 1: \(lagging.reads.count) plain commands, slowest \(ms(slowestRead)), failed \(failedReads.count); \(lagging.writes.count) waiting writes, latency p50 \(ms(lagging.writeQuantile(0.5))) max \(ms(lagging.writeQuantile(1))), replies \(lagging.writeKinds); connection drops \(drops)")
        XCTAssertGreaterThan(lagging.reads.count, 100)
        XCTAssertEqual(failedReads.count, 0, "\(failedReads.prefix(3))")
        XCTAssertLessThan(slowestRead, 0.1, "plain commands never wait behind WAIT")
        XCTAssertEqual(drops, 0, "no connection was dropped")
        XCTAssertFalse(lagging.writes.isEmpty)
        for (elapsed, reply) in lagging.writes {
            XCTAssertEqual(reply, .failure(.notReplicated))
            XCTAssertLessThan(elapsed, 1.3, "answered about one WAIT timeout after it was sent")
        }
        // Every writer's first write had a WAIT to itself: the full timeout.
        XCTAssertGreaterThanOrEqual(lagging.writes.first?.0 ?? 0, 0.95, "a write waits for WAIT's timeout")
    }

    func testConcurrentWaitingWritesThroughput() throws {
        // Healthy replicas: measured for the report (appends/s with WAIT 1), and each must succeed.
        let healthy = load(tag: "fast", writers: 16, seconds: 2, waitReplicas: 1)
        print("healthy replica, WAIT 1, 16 writers: \(Double(healthy.writes.count) / 2) writes/s, p50 \(ms(healthy.writeQuantile(0.5))) p99 \(ms(healthy.writeQuantile(0.99))); replies \(healthy.writeKinds)")
        XCTAssertTrue(healthy.writes.allSatisfy { $0.1 == .status("OK") }, "\(healthy.writeKinds)")
        let plain = load(tag: "fast", writers: 16, seconds: 2, waitReplicas: 0)
        print("no WAIT, 16 writers: \(Double(plain.writes.count) / 2) writes/s, p50 \(ms(plain.writeQuantile(0.5))) p99 \(ms(plain.writeQuantile(0.99)))")
    }
}

struct WaitLoad {
    var writes: [(Double, RedisReply)] = []
    var reads: [(Double, RedisReply)] = []

    func writeQuantile(_ q: Double) -> Double {
        let sorted = writes.map(\.0).sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }

    var writeKinds: [String: Int] {
        var kinds: [String: Int] = [:]
        for (_, reply) in writes { kinds[reply.errorMessage ?? "ok", default: 0] += 1 }
        return kinds
    }
}

func ms(_ seconds: Double) -> String { String(format: "%.0f ms", seconds * 1000) }
