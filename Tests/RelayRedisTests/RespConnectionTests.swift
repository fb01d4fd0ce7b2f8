// RespConnectionTests: the raw RESP connection against a real redis-server: replies in order,
// a reply larger than any single read, pushes, the caps, and what it reports when the server
// or the connect goes away.
import XCTest
import RelayIO

final class RespConnectionTests: XCTestCase {
    var loop: EventLoop!
    var redis: RedisServer!
    var connection: RespConnection?
    var replies: [RedisReply] = []
    var connected: String?? = .none
    var disconnected: String?? = .none

    override func setUpWithError() throws {
        loop = EventLoop()
        redis = try RedisServer()
        try redis.start()
    }

    override func tearDown() {
        connection?.disconnect()
        connection = nil
        redis?.destroy()
        loop = nil
    }

    @discardableResult
    func open(_ endpoint: RedisEndpoint, maxBufferedBytes: Int = RespConnection.defaultMaxBufferedBytes,
              waitForConnect: Bool = true) -> RespConnection {
        let connection = RespConnection(loop: loop, endpoint: endpoint, maxBufferedBytes: maxBufferedBytes)
        connection.onConnect = { [unowned self] in self.connected = .some($0) }
        connection.onDisconnect = { [unowned self] in self.disconnected = .some($0) }
        connection.onReply = { [unowned self] in self.replies.append($0) }
        XCTAssertTrue(connection.connect())
        self.connection = connection
        if waitForConnect {
            XCTAssertTrue(loop.spin { [unowned self] in self.connected != nil }, "connect reported")
            XCTAssertEqual(connected, .some(nil), "connected without error")
            XCTAssertTrue(connection.isConnected)
        }
        return connection
    }

    func testPipelinedRepliesArriveInOrder() {
        let connection = open(redis.endpoint)
        XCTAssertTrue(connection.send(["SET", "k", "v"]))
        connection.send(["GET", "k"])
        connection.send(["INCR", "n"])
        connection.send(["GET", "missing"])
        connection.send(["LPUSH", "l", "a", "b"])
        connection.send(["LRANGE", "l", "0", "-1"])
        connection.send(["NOSUCHCOMMAND"])
        connection.send(["PING"])
        XCTAssertTrue(loop.spin { [unowned self] in self.replies.count == 8 })
        XCTAssertEqual(replies[0], .status("OK"))
        XCTAssertEqual(replies[1], .bulk(Array("v".utf8)))
        XCTAssertEqual(replies[2], .integer(1))
        XCTAssertEqual(replies[3], .null)
        XCTAssertEqual(replies[4], .integer(2))
        XCTAssertEqual(replies[5], .array([.bulk(Array("b".utf8)), .bulk(Array("a".utf8))]))
        XCTAssertNotNil(replies[6].errorMessage)
        XCTAssertEqual(replies[7], .status("PONG"))
    }

    func testBinaryArgumentsAndABulkReplyLargerThanOneRead() {
        let connection = open(redis.endpoint)
        // 8 MiB with every byte value, CR LF included: read in many pieces, parsed as one.
        var value = [UInt8](repeating: 0, count: 8 << 20)
        for i in value.indices { value[i] = UInt8(truncatingIfNeeded: i &* 31 &+ i >> 9) }
        connection.send([Array("SET".utf8), Array("big\r\n\0key".utf8), value])
        connection.send([Array("GET".utf8), Array("big\r\n\0key".utf8)])
        connection.send(["PING"])
        XCTAssertTrue(loop.spin(timeout: 20) { [unowned self] in self.replies.count == 3 })
        XCTAssertEqual(replies.first, .status("OK"))
        guard case .bulk(let read)? = replies.dropFirst().first else { return XCTFail("GET: \(replies.dropFirst().first.map { "\($0)".prefix(80) } ?? "none")") }
        XCTAssertEqual(read.count, value.count)
        XCTAssertTrue(read == value, "the value comes back byte for byte")
        XCTAssertEqual(replies.last, .status("PONG"))
    }

    func testShardedPubSubPushesAreDelivered() throws {
        let connection = open(redis.endpoint)
        connection.send(["SSUBSCRIBE", "news"])
        XCTAssertTrue(loop.spin { [unowned self] in self.replies.count == 1 })
        XCTAssertEqual(replies[0], .array([.bulk(Array("ssubscribe".utf8)), .bulk(Array("news".utf8)), .integer(1)]))
        XCTAssertEqual(try redis.cli("SPUBLISH", "news", "first"), "1")
        XCTAssertEqual(try redis.cli("SPUBLISH", "news", "second"), "1")
        XCTAssertTrue(loop.spin { [unowned self] in self.replies.count == 3 })
        XCTAssertEqual(replies[1], .array([.bulk(Array("smessage".utf8)), .bulk(Array("news".utf8)), .bulk(Array("first".utf8))]))
        XCTAssertEqual(replies[2], .array([.bulk(Array("smessage".utf8)), .bulk(Array("news".utf8)), .bulk(Array("second".utf8))]))
        connection.send(["SUNSUBSCRIBE", "news"])
        XCTAssertTrue(loop.spin { [unowned self] in self.replies.count == 4 })
        XCTAssertEqual(replies[3], .array([.bulk(Array("sunsubscribe".utf8)), .bulk(Array("news".utf8)), .integer(0)]))
    }

    func testUnixSocket() {
        let connection = open(.unix(path: redis.socketPath))
        connection.send(["ECHO", "over the socket"])
        XCTAssertTrue(loop.spin { [unowned self] in self.replies.count == 1 })
        XCTAssertEqual(replies, [.bulk(Array("over the socket".utf8))])
    }

    func testServerKilledIsReportedAsADisconnect() {
        let connection = open(redis.endpoint)
        connection.send(["PING"])
        XCTAssertTrue(loop.spin { [unowned self] in self.replies.count == 1 })
        redis.kill()
        XCTAssertTrue(loop.spin { [unowned self] in self.disconnected != nil }, "onDisconnect after the server died")
        XCTAssertFalse(connection.isConnected)
        XCTAssertFalse(connection.send(["PING"]), "a closed connection takes nothing")
    }

    func testServerClosingTheConnectionIsAnOrderlyDisconnect() {
        let connection = open(redis.endpoint)
        connection.send(["CLIENT", "SETNAME", "closing"])
        connection.send(["QUIT"])
        XCTAssertTrue(loop.spin { [unowned self] in self.disconnected != nil })
        XCTAssertEqual(disconnected, .some(nil), "EOF is reported without an error")
        XCTAssertEqual(replies, [.status("OK"), .status("OK")], "the replies before the close are delivered first")
    }

    func testConnectFailuresAreReportedFromTheLoop() throws {
        redis.kill()
        open(redis.endpoint, waitForConnect: false)
        XCTAssertTrue(connected == nil, "nothing is reported inside connect()")
        XCTAssertTrue(loop.spin { [unowned self] in self.connected != nil })
        XCTAssertNotNil(connected ?? nil, "refused: \(String(describing: connected))")
        XCTAssertTrue(disconnected == nil, "a failed connect is not a disconnect")

        connected = nil
        open(.unix(path: redis.directory.appendingPathComponent("nothing-here.sock").path), waitForConnect: false)
        XCTAssertTrue(loop.spin { [unowned self] in self.connected != nil })
        XCTAssertNotNil(connected ?? nil)

        connected = nil
        open(.tcp(host: "no-such-host.invalid", port: 6379), waitForConnect: false)
        XCTAssertTrue(loop.spin { [unowned self] in self.connected != nil })
        XCTAssertNotNil(connected ?? nil)
    }

    func testAReplyOverTheCapDropsTheConnection() throws {
        XCTAssertEqual(try redis.cli("SET", "large", String(repeating: "x", count: 100_000)), "OK")
        let connection = open(redis.endpoint, maxBufferedBytes: 64 * 1024)
        connection.send(["GET", "large"])
        XCTAssertTrue(loop.spin { [unowned self] in self.disconnected != nil })
        XCTAssertTrue((disconnected ?? nil)?.contains("reply over") == true, "\(String(describing: disconnected))")
        XCTAssertTrue(replies.isEmpty)
    }

    func testOutputOverTheCapDropsTheConnection() throws {
        let stalled = try StalledListener()
        let connection = open(.tcp(host: "127.0.0.1", port: stalled.port), maxBufferedBytes: 1 << 20)
        let chunk = [UInt8](repeating: 0x61, count: 64 * 1024)
        var refused = false
        // Queued while the loop does not run; the peer would not read it anyway.
        for _ in 0..<100 where !refused {
            refused = !connection.send([Array("SET".utf8), Array("k".utf8), chunk])
        }
        XCTAssertTrue(refused, "send refuses once the output is over the cap")
        XCTAssertTrue(loop.spin { [unowned self] in self.disconnected != nil })
        XCTAssertTrue((disconnected ?? nil)?.contains("output over") == true, "\(String(describing: disconnected))")
        withExtendedLifetime(stalled) {}
    }

    func testDisconnectReportsNothing() {
        let connection = open(redis.endpoint)
        connection.send(["PING"])
        connection.disconnect()
        loop.spin(for: 0.1)
        XCTAssertTrue(disconnected == nil)
        XCTAssertTrue(replies.isEmpty)
        XCTAssertFalse(connection.isConnected)
    }
}
