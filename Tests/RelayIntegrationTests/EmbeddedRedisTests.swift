// EmbeddedRedisTests.swift: the quick start's default. With no Redis configured the relay runs
// its own redis-server in its data directory, restarts it when it dies (data kept: append-only
// file), and never stalls its event loop doing so.

import XCTest
import Foundation

final class EmbeddedRedisTests: XCTestCase {
    private var relay: RelayProcess?
    private var dataDir: URL?

    override func setUpWithError() throws {
        try super.setUpWithError()
        if TestRedis.mode == .cluster {
            throw XCTSkip("cluster mode: the embedded redis-server is single-instance by design; the single-instance run covers it")
        }
    }

    override func tearDown() {
        relay?.destroy()
        if let dataDir { try? FileManager.default.removeItem(at: dataDir) }
        super.tearDown()
    }

    private func startRelay(redisServer: String? = nil) throws -> RelayProcess {
        let dir = try makeTemporaryDirectory(prefix: "relay-it-embedded")
        dataDir = dir
        var environment = ["RELAY_DATA_DIR": dir.path]
        if let redisServer { environment["RELAY_REDIS_SERVER"] = redisServer }
        let relay = try RelayProcess(redisURL: "", environment: environment)
        self.relay = relay
        try relay.start()
        return relay
    }

    private func killEmbeddedRedis(of relay: RelayProcess) throws {
        let pid = try XCTUnwrap(relay.pid)
        let children = String(decoding: try ChildProcess.run("pgrep", ["-P", "\(pid)", "-f", "redis-server"]), as: UTF8.self)
        let redisPid = try XCTUnwrap(children.split(separator: "\n").first.flatMap { Int32($0) }, "no redis-server child of \(pid)")
        XCTAssertEqual(kill(redisPid, SIGKILL), 0)
    }

    func testTheEmbeddedRedisIsRestartedWithItsData() throws {
        let relay = try startRelay()
        let api = RelayAPI(port: relay.port, bearer: TestEnvironments.devKey)
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "out", "before").status, 200)
        try killEmbeddedRedis(of: relay)
        try waitUntil(timeout: 15, "the relay to serve again after its redis-server was killed") {
            (try? api.retrieveSession(session))?.status == 200
        }
        XCTAssertEqual(try api.drain(session, "out").json()["records"]?.arrayValue?.count, 1, "the record survived (AOF)")
        XCTAssertTrue(relay.logTail().contains("embedded redis-server died; restarted it"), relay.logTail())
    }

    /// A redis-server that takes seconds to fail on restart: the relay keeps answering meanwhile
    /// (the restart used to wait for the socket on the event loop) and says that it fails.
    func testARestartThatFailsIsReportedAndDoesNotStallTheLoop() throws {
        let dir = try makeTemporaryDirectory(prefix: "relay-it-wrapper")
        defer { try? FileManager.default.removeItem(at: dir) }
        let marker = dir.appendingPathComponent("started-once")
        let wrapper = dir.appendingPathComponent("redis-server")
        let real = try XCTUnwrap(ChildProcess.findExecutable("redis-server")).path
        try """
        #!/bin/sh
        # First start: the real redis-server. Every later start: 3 s of nothing, then failure.
        if [ -e '\(marker.path)' ]; then sleep 3; exit 1; fi
        touch '\(marker.path)'
        exec '\(real)' "$@"
        """.write(to: wrapper, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(wrapper.path, 0o755), 0)

        let relay = try startRelay(redisServer: wrapper.path)
        try killEmbeddedRedis(of: relay)
        let health = HTTPClient(port: relay.port, timeout: 1)
        let started = Date()
        var slowest = 0.0
        while Date().timeIntervalSince(started) < 5 {
            let before = Date()
            XCTAssertEqual(try health.request("GET", "/healthz").status, 200)
            slowest = max(slowest, Date().timeIntervalSince(before))
            Thread.sleep(forTimeInterval: 0.1)  // probe pace
        }
        XCTAssertLessThan(slowest, 0.5, "the event loop stalled for \(slowest) s during the restart")
        try waitUntil(timeout: 15, "the relay to report the failing restarts") {
            relay.logTail().contains("embedded redis-server keeps failing")
        }
    }
}
