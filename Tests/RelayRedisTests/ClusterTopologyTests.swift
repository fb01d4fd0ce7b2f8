// ClusterTopologyTests: CLUSTER SLOTS replies (Redis 7.0 shape) into a slot table, MOVED/ASK
// parsing, and which replies the router retries, follows or hands back.
import XCTest
@testable import RelayRedis
@testable import RelayStorage
import RelayIO

final class ClusterTopologyTests: XCTestCase {
    private func node(_ host: String, _ port: Int64, _ id: String) -> RedisReply {
        // Redis 7 adds a fourth element, a (possibly empty) map of extra endpoints.
        .array([.bulk(Array(host.utf8)), .integer(port), .bulk(Array(id.utf8)), .array([])])
    }

    func testParsesSlotsReply() throws {
        let reply = RedisReply.array([
            .array([.integer(5461), .integer(10922), node("127.0.0.1", 7101, "b"), node("127.0.0.1", 7104, "e")]),
            .array([.integer(0), .integer(5460), node("127.0.0.1", 7100, "a"), node("127.0.0.1", 7103, "d")]),
            .array([.integer(10923), .integer(16383), node("", 7102, "c"), node("?", 7105, "f")]),
        ])
        let topology = try XCTUnwrap(ClusterTopology.parse(slots: reply, askedHost: "10.1.1.1"))
        XCTAssertEqual(topology.ranges.map(\.first), [0, 5461, 10923], "sorted by first slot")
        XCTAssertEqual(topology.ranges[0].primaryID, "a")
        XCTAssertEqual(topology.ranges[2].primary, .tcp(host: "10.1.1.1", port: 7102), "an empty host is the node asked")
        XCTAssertEqual(topology.ranges[2].replicas, [.tcp(host: "10.1.1.1", port: 7105)], "so is ?")
        XCTAssertEqual(topology.primaries.count, 3)
        XCTAssertEqual(topology.replicas.count, 3)

        var table = SlotTable(topology)
        XCTAssertEqual(table.owner(of: 0), .tcp(host: "127.0.0.1", port: 7100))
        XCTAssertEqual(table.owner(of: 5460), .tcp(host: "127.0.0.1", port: 7100))
        XCTAssertEqual(table.owner(of: 5461), .tcp(host: "127.0.0.1", port: 7101))
        XCTAssertEqual(table.owner(of: 16383), .tcp(host: "10.1.1.1", port: 7102))
        XCTAssertNil(table.owner(of: 16384))
        XCTAssertEqual(table.unassigned, 0)
        XCTAssertEqual(table.primaries.count, 3)

        let before = table
        table.setOwner(of: 42, to: .tcp(host: "127.0.0.1", port: 7101))
        XCTAssertNotEqual(table, before)
        XCTAssertEqual(table.owner(of: 42), .tcp(host: "127.0.0.1", port: 7101))
        table.setOwner(of: 42, to: .tcp(host: "127.0.0.1", port: 7100))
        XCTAssertEqual(table, before, "equal by owners, whatever the order they were learnt in")
    }

    func testSeveralRangesPerPrimaryAndGaps() throws {
        let reply = RedisReply.array([
            .array([.integer(0), .integer(99), node("h", 1, "a")]),
            .array([.integer(200), .integer(200), node("h", 1, "a")]),
        ])
        let table = SlotTable(try XCTUnwrap(ClusterTopology.parse(slots: reply, askedHost: "x")))
        XCTAssertEqual(table.primaries, [.tcp(host: "h", port: 1)])
        XCTAssertNil(table.owner(of: 100))
        XCTAssertEqual(table.owner(of: 200), .tcp(host: "h", port: 1))
        XCTAssertEqual(table.unassigned, ClusterSlot.count - 101)
    }

    func testRejectsWhatIsNotASlotMap() {
        XCTAssertNil(ClusterTopology.parse(slots: .error("ERR This instance has cluster support disabled"), askedHost: "h"))
        XCTAssertNil(ClusterTopology.parse(slots: .array([]), askedHost: "h"), "a node in no cluster yet")
        XCTAssertNil(ClusterTopology.parse(slots: .array([.array([.integer(5), .integer(4), node("h", 1, "a")])]), askedHost: "h"))
        XCTAssertNil(ClusterTopology.parse(slots: .array([.array([.integer(0), .integer(16384), node("h", 1, "a")])]), askedHost: "h"))
        XCTAssertNil(ClusterTopology.parse(slots: .array([.array([.integer(0), .integer(1)])]), askedHost: "h"))
        XCTAssertNil(ClusterTopology.parse(slots: .failure(.connectionLost), askedHost: "h"))
    }

    func testRedirections() {
        XCTAssertEqual(ClusterRedirect.parse("MOVED 3999 127.0.0.1:6381", replyingHost: "x"),
                       ClusterRedirect(kind: .moved, slot: 3999, endpoint: .tcp(host: "127.0.0.1", port: 6381)))
        XCTAssertEqual(ClusterRedirect.parse("ASK 3999 10.0.0.2:7002", replyingHost: "x"),
                       ClusterRedirect(kind: .ask, slot: 3999, endpoint: .tcp(host: "10.0.0.2", port: 7002)))
        XCTAssertEqual(ClusterRedirect.parse("MOVED 1 :7002", replyingHost: "10.0.0.9")?.endpoint,
                       .tcp(host: "10.0.0.9", port: 7002), "no host: the node that answered")
        XCTAssertEqual(ClusterRedirect.parse("MOVED 1 ::1:7002", replyingHost: "x")?.endpoint, .tcp(host: "::1", port: 7002))
        XCTAssertEqual(ClusterRedirect.parse("MOVED 1 [::1]:7002", replyingHost: "x")?.endpoint, .tcp(host: "::1", port: 7002))
        for bad in ["MOVED 16384 h:1", "MOVED x h:1", "MOVED 1 h", "MOVED 1 h:0", "ASK 1", "MOVEDX 1 h:1", "ERR 1 h:1"] {
            XCTAssertNil(ClusterRedirect.parse(bad, replyingHost: "x"), bad)
        }
    }

    func testRetryClassification() {
        func action(_ reply: RedisReply) -> ClusterReplyAction { ClusterReplyClassifier.action(for: reply, replyingHost: "h") }
        // Never sent, or refused before running: safe to send again.
        XCTAssertEqual(action(.failure(.notConnected)), .retry)
        XCTAssertEqual(action(.failure(.notSent)), .retry)
        for code in ["TRYAGAIN Multiple keys request during rehashing of slot", "CLUSTERDOWN The cluster is down",
                     "MASTERDOWN Link with MASTER is down", "LOADING Redis is loading the dataset in memory",
                     "READONLY You can't write against a read only replica."] {
            XCTAssertEqual(action(.error(code)), .retry, code)
        }
        // Sent and then lost: it may have run, so never twice.
        XCTAssertEqual(action(.failure(.connectionLost)), .complete)
        XCTAssertEqual(action(.failure(.timedOut)), .complete)
        XCTAssertEqual(action(.failure(.notReplicated)), .complete)
        // Answers, good or bad.
        XCTAssertEqual(action(.status("OK")), .complete)
        XCTAssertEqual(action(.null), .complete)
        XCTAssertEqual(action(.error("CROSSSLOT Keys in request don't hash to the same slot")), .complete)
        XCTAssertEqual(action(.error("NOSCRIPT No matching script")), .complete)
        XCTAssertEqual(action(.error("ERR user_script:1: MOVED in a string")), .complete)
        XCTAssertEqual(action(.error("MOVED 7 h2:9")), .redirect(ClusterRedirect(kind: .moved, slot: 7, endpoint: .tcp(host: "h2", port: 9))))
        XCTAssertEqual(action(.error("ASK 7 :9")), .redirect(ClusterRedirect(kind: .ask, slot: 7, endpoint: .tcp(host: "h", port: 9))))
        XCTAssertEqual(action(.error("MOVED garbage")), .complete, "an unreadable redirection is handed back")
        // What the router hands back after its retries or redirections ran out is a 503.
        for reply in [RedisReply.error("MOVED 7 h2:9"), .error("ASK 7 h2:9"), .error("TRYAGAIN x"), .error("CLUSTERDOWN x"),
                      .failure(.notConnected)] {
            XCTAssertEqual(reply.apiError?.status, 503, "\(reply)")
        }
    }
}
