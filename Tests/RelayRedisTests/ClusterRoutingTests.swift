// ClusterRoutingTests: the cluster router's handling of MOVED, ASK, TRYAGAIN, redirect loops,
// lost connections and its deadline, against scripted in-memory servers (ScriptedRedis) under
// real RedisNodes: fast and exact, where ClusterClientTests needs a real cluster to provoke them.
import Logging
import XCTest
import RelayIO
@testable import RelayRedis
@testable import RelayStorage

final class ClusterRoutingTests: XCTestCase {
    let a = RedisEndpoint.tcp(host: "127.0.0.1", port: 7001)
    let b = RedisEndpoint.tcp(host: "127.0.0.1", port: 7002)
    var loop: EventLoop!
    var redis: ScriptedRedis!
    var client: ClusterClient!
    /// The values each server holds (a GET answers from it, a SET writes it).
    var values: [String: [String: String]] = [:]
    /// The slot map the servers report: A serves 0-8191, B 8192-16383, unless a test moves it.
    var map: [(ClosedRange<Int>, RedisEndpoint)] = []

    /// A key in A's half and one in B's.
    var keyOnA = ""
    var keyOnB = ""

    override func setUpWithError() throws {
        loop = EventLoop()
        redis = ScriptedRedis(loop: loop)
        map = [(0...8191, a), (8192...16383, b)]
        keyOnA = (0..<1000).lazy.map { "k\($0)" }.first { ClusterSlot.of($0) <= 8191 }!
        keyOnB = (0..<1000).lazy.map { "k\($0)" }.first { ClusterSlot.of($0) > 8191 }!
        redis.respond = { [unowned self] endpoint, command in self.serve(endpoint, command) }
        try connect(commandTimeoutSeconds: 0.5)
    }

    override func tearDown() {
        client?.stop()
        client = nil
        loop = nil
    }

    func connect(commandTimeoutSeconds: Double) throws {
        client?.stop()
        client = ClusterClient(loop: loop, seeds: [a], options: RedisNodeOptions(commandTimeoutSeconds: commandTimeoutSeconds,
                                                                              subscriptions: false),
                               logger: Logger(label: "test"), connector: redis.connector)
        client.start()
        XCTAssertTrue(loop.spin(timeout: 2) { self.client.allPrimariesConnected }, "both primaries connected")
    }

    /// A well-behaved server: answers from the map and its values.
    func serve(_ endpoint: RedisEndpoint, _ command: [String]) -> RedisReply? {
        switch command.first {
        case "CLUSTER": return ScriptedRedis.slots(map)
        case "ASKING": return .status("OK")
        case "GET": return values[endpoint.description]?[command[1]].map { .bulk(Array($0.utf8)) } ?? .null
        case "SET":
            values[endpoint.description, default: [:]][command[1]] = command[2]
            return .status("OK")
        default: return .error("ERR unknown command")
        }
    }

    func send(_ key: String, _ args: String...) -> RedisReply? {
        loop.wait(5) { done in self.client.send(key: key, args, done) }
    }

    func testCommandsGoToTheSlotsOwner() {
        XCTAssertEqual(send(keyOnA, "SET", keyOnA, "1"), .status("OK"))
        XCTAssertEqual(send(keyOnB, "SET", keyOnB, "2"), .status("OK"))
        XCTAssertEqual(redis.commands(to: a), [["SET", keyOnA, "1"]])
        XCTAssertEqual(redis.commands(to: b), [["SET", keyOnB, "2"]])
    }

    func testMovedIsFollowedAndUpdatesTheMap() {
        let slot = ClusterSlot.of(keyOnA)
        redis.respond = { [unowned self] endpoint, command in
            if endpoint == self.a, command.first == "GET" { return .error("MOVED \(slot) 127.0.0.1:7002") }
            return self.serve(endpoint, command)
        }
        values[b.description] = [keyOnA: "moved"]
        XCTAssertEqual(send(keyOnA, "GET", keyOnA), .bulk(Array("moved".utf8)))
        XCTAssertEqual(client.stats.moved, 1)
        XCTAssertEqual(client.primary(slot: slot), b, "the slot's owner is updated at once")
        XCTAssertEqual(send(keyOnA, "GET", keyOnA), .bulk(Array("moved".utf8)))
        XCTAssertEqual(redis.commands(to: a).count, 1, "the second GET went straight to the new owner")
    }

    func testAskIsFollowedOnceWithAskingAndLeavesTheMap() {
        let slot = ClusterSlot.of(keyOnA)
        redis.respond = { [unowned self] endpoint, command in
            if endpoint == self.a, command.first == "GET" { return .error("ASK \(slot) :7002") }
            return self.serve(endpoint, command)
        }
        values[b.description] = [keyOnA: "importing"]
        XCTAssertEqual(send(keyOnA, "GET", keyOnA), .bulk(Array("importing".utf8)))
        XCTAssertEqual(redis.commands(to: b), [["ASKING"], ["GET", keyOnA]], "ASKING right before the command, same connection")
        XCTAssertEqual(client.stats.asked, 1)
        XCTAssertEqual(client.primary(slot: slot), a, "ASK does not change the map")
    }

    func testTryAgainIsRetriedUntilItPasses() {
        var refusals = 3
        redis.respond = { [unowned self] endpoint, command in
            if command.first == "GET", refusals > 0 {
                refusals -= 1
                return .error("TRYAGAIN Multiple keys request during rehashing of slot")
            }
            return self.serve(endpoint, command)
        }
        XCTAssertEqual(send(keyOnA, "GET", keyOnA), .null)
        XCTAssertEqual(redis.commands(to: a).count, 4)
        XCTAssertGreaterThanOrEqual(client.stats.retries, 3)
    }

    func testARedirectLoopEndsAfterTheBudget() {
        let slot = ClusterSlot.of(keyOnA)
        redis.respond = { [unowned self] endpoint, command in
            guard command.first == "GET" else { return self.serve(endpoint, command) }
            return .error(endpoint == self.a ? "MOVED \(slot) 127.0.0.1:7002" : "MOVED \(slot) 127.0.0.1:7001")
        }
        let reply = send(keyOnA, "GET", keyOnA)
        XCTAssertEqual(reply?.errorMessage?.hasPrefix("MOVED"), true, "\(String(describing: reply))")
        XCTAssertEqual(client.stats.moved, ClusterClient.maxRedirects)
    }

    func testAnUnansweredCommandIsAnsweredByTheDeadline() {
        redis.respond = { [unowned self] endpoint, command in
            command.first == "GET" ? nil : self.serve(endpoint, command)
        }
        let started = Clock.monotonicSeconds()
        let reply = send(keyOnA, "GET", keyOnA)
        let elapsed = Clock.monotonicSeconds() - started
        XCTAssertEqual(reply, .failure(.timedOut))
        XCTAssertGreaterThanOrEqual(elapsed, 0.45)
        XCTAssertLessThan(elapsed, 0.5 + 0.3, "answered by the deadline")
        XCTAssertEqual(redis.commands(to: a).count, 1, "never resent: it may have run")
    }

    func testACommandWhoseConnectionDroppedIsNotResent() {
        redis.respond = { [unowned self] endpoint, command in
            if command.first == "SET" {
                self.loop.after(0.01) { self.redis.dropConnections(to: endpoint) }
                return nil
            }
            return self.serve(endpoint, command)
        }
        XCTAssertEqual(send(keyOnA, "SET", keyOnA, "1"), .failure(.connectionLost))
        XCTAssertEqual(redis.commands(to: a), [["SET", keyOnA, "1"]])
    }

    func testAPrimaryThatIsDownIsRetriedWithinTheDeadline() throws {
        try connect(commandTimeoutSeconds: 2)
        redis.down = [a.description]
        redis.dropConnections(to: a)
        XCTAssertTrue(loop.spin(timeout: 2) { !self.client.allPrimariesConnected })
        // Back before the deadline: the command waits for it instead of failing.
        loop.after(0.3) { self.redis.down = [] }
        XCTAssertEqual(send(keyOnA, "SET", keyOnA, "1"), .status("OK"))
        XCTAssertGreaterThan(client.stats.retries, 0)
    }
}
