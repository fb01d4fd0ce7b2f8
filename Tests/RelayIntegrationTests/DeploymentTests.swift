// DeploymentTests.swift: the Deploy section of the README, as a test: three relay nodes on one
// Redis behind Debian's haproxy with config/haproxy.cfg (its ports rewritten). Appends through
// the balancer reach subscribers on every node; a node that gets SIGTERM mid-stream drains and
// its clients resume through the balancer with Last-Event-ID, losing nothing; metrics move;
// the demo page works in headless Chromium.

import XCTest
import Foundation

final class DeploymentTests: RelayTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_DRAIN_GRACE_SECONDS": "1"] }

    private static var extraNodes: [RelayProcess] = []
    private static var balancer: ChildProcess?
    private static var balancerPort: UInt16 = 0

    override class func tearDown() {
        _ = balancer?.stop(timeout: 5)
        balancer = nil
        extraNodes.forEach { $0.destroy() }
        extraNodes = []
        super.tearDown()
    }

    /// The three nodes (the class's relay first) and the balancer, started once per class.
    private func relaysBehindHaproxy() throws -> (nodes: [RelayProcess], lb: RelayAPI) {
        if Self.extraNodes.isEmpty {
            for _ in 0..<2 {
                let node = try RelayProcess(redisURL: redis.url, environment: Self.relayEnvironment)
                try node.start()
                Self.extraNodes.append(node)
            }
        }
        let nodes = [relay!] + Self.extraNodes
        for node in nodes where !node.isRunning { try node.restart() }
        if Self.balancer == nil {
            Self.balancerPort = try freeLocalPort()
            let config = try Haproxy.config(port: Self.balancerPort, nodes: nodes)
            let directory = try makeTemporaryDirectory(prefix: "relay-it-haproxy")
            let file = directory.appendingPathComponent("haproxy.cfg")
            try config.write(to: file, atomically: true, encoding: .utf8)
            let haproxy = try Haproxy.executable()
            let process = ChildProcess(name: "haproxy", executable: haproxy, arguments: ["-f", file.path, "-db"],
                                       environment: nil, logURL: directory.appendingPathComponent("haproxy.log"))
            try process.launch()
            Self.balancer = process
        }
        let lb = RelayAPI(port: Self.balancerPort, bearer: TestEnvironments.devKey)
        try waitUntil(timeout: 15, "haproxy to route to a ready node") {
            (try? lb.http.request("GET", "/readyz"))?.status == 200
        }
        return (nodes, lb)
    }

    func testAppendsThroughTheBalancerReachSubscribersOnEveryNode() throws {
        let (nodes, lb) = try relaysBehindHaproxy()
        let session = try lb.newSession()
        let streams = try nodes.map {
            try RelayAPI(port: $0.port, bearer: TestEnvironments.devKey).subscribe(session, "out", headers: [("Timeout-Seconds", "20")])
        }
        var servedBy = Set<String>()
        for i in 1...30 {
            let response = try lb.append(session, "out", "r\(i)")
            XCTAssertEqual(response.status, 200)
            if let node = response.headers["X-Relay-Node"] { servedBy.insert(node) }
        }
        XCTAssertGreaterThan(servedBy.count, 1, "the balancer should spread appends over nodes")
        for (index, stream) in streams.enumerated() {
            for i in 1...30 {
                XCTAssertEqual(try stream.nextDataEvent(timeout: 10)?.id, String(i), "node \(index + 1)")
            }
        }
    }

    func testSIGTERMDrainsANodeAndItsClientsResumeThroughTheBalancerWithoutLoss() throws {
        let (nodes, lb) = try relaysBehindHaproxy()
        let session = try lb.newSession()
        // A stream through the balancer that landed on one of the extra nodes (node 1 is the fixture).
        var stream: SSEConnection?
        var victim: RelayProcess?
        for _ in 0..<20 where victim == nil {
            let candidate = try lb.subscribe(session, "out", headers: [("Timeout-Seconds", "60")])
            let port = candidate.headers["X-Relay-Node"].flatMap { $0.split(separator: "/").first?.split(separator: ":").last }.flatMap { UInt16($0) }
            if let node = Self.extraNodes.first(where: { $0.port == port }) {
                stream = candidate
                victim = node
            }
        }
        let draining = try XCTUnwrap(victim, "no stream landed on node 2 or 3")
        let sse = try XCTUnwrap(stream)
        for i in 1...10 { XCTAssertEqual(try lb.append(session, "out", "r\(i)").status, 200) }
        for i in 1...10 { XCTAssertEqual(try sse.nextDataEvent()?.id, String(i)) }

        // A connection opened before the signal sees /readyz flip to 503 during the drain.
        let probe = try TCPSocket.open(host: "127.0.0.1", port: draining.port, timeout: 5)
        draining.send(signal: SIGTERM)
        // The stream ends cleanly (a ping may come first); the drain has begun once it has.
        while let event = try sse.nextEvent(timeout: 5) {
            XCTAssertTrue(event.isCommentOnly, "no record after the drain began: \(event)")
        }
        try probe.send(Array("GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8), deadline: .after(5))
        let head = try HTTPResponseHead.read(from: BufferedReader(socket: probe), deadline: .after(5))
        XCTAssertEqual(head.status, 503, "/readyz during the drain")
        XCTAssertEqual(draining.waitForExit(timeout: 15), 0, "the node exits 0 within the drain timeout")

        // Records appended meanwhile, then the client resumes through the balancer.
        for i in 11...20 { XCTAssertEqual(try lb.append(session, "out", "r\(i)").status, 200) }
        let resumed = try lb.subscribe(session, "out", headers: [("Last-Event-ID", "10"), ("Timeout-Seconds", "5")])
        XCTAssertEqual(resumed.status, 200)
        XCTAssertNotEqual(resumed.headers["X-Relay-Node"].flatMap { $0.split(separator: "/").first.map(String.init) },
                          "\(ProcessInfo.processInfo.hostName):\(draining.port)")
        for i in 11...20 { XCTAssertEqual(try resumed.nextDataEvent()?.id, String(i), "resume loses nothing") }
        try draining.restart()
        XCTAssertTrue(nodes.allSatisfy(\.isRunning))
    }

    func testMetricsCountersMove() throws {
        let (_, _) = try relaysBehindHaproxy()
        let node = api
        func scrape() throws -> [String: Double] {
            parseMetrics(try http.request("GET", "/metrics").text)
        }
        let before = try scrape()
        let session = try node.newSession()
        let stream = try node.subscribe(session, "out", headers: [("Timeout-Seconds", "5")])
        for i in 1...5 { XCTAssertEqual(try node.append(session, "out", "m\(i)").status, 200) }
        for _ in 1...5 { XCTAssertNotNil(try stream.nextDataEvent()) }
        XCTAssertEqual(try node.retrieveSession("session_unknown00000000000000000").status, 404)
        let after = try scrape()
        func delta(_ name: String) -> Double { (after[name] ?? 0) - (before[name] ?? 0) }
        XCTAssertGreaterThanOrEqual(delta("relay_records_appended_total"), 5)
        XCTAssertGreaterThanOrEqual(delta("relay_records_delivered_total"), 5)
        XCTAssertGreaterThanOrEqual(delta("relay_http_responses_total{status=\"404\"}"), 1)
        XCTAssertGreaterThanOrEqual(delta("relay_redis_command_duration_seconds_count"), 5)
        // Streams of earlier tests may still be closing: the gauge counts ours, then drops.
        let open = try XCTUnwrap(after["relay_sse_subscribers{channel=\"out\"}"])
        XCTAssertGreaterThanOrEqual(open, 1)
        XCTAssertEqual(after["relay_redis_connected"], 1)
        stream.close()
        try waitUntil(timeout: 5, "the subscribers gauge to drop when our stream closes") {
            (try scrape()["relay_sse_subscribers{channel=\"out\"}"] ?? 0) < open
        }
    }

    func testDemoPageInHeadlessChromiumShowsTheEcho() throws {
        let (_, lb) = try relaysBehindHaproxy()
        guard let chromium = ChildProcess.findExecutable("chromium") else {
            throw HarnessError("chromium not found (Debian: apt-get install -y chromium; scripts/install-deps does it)")
        }
        let workerDirectory = try makeTemporaryDirectory(prefix: "relay-it-worker")
        let worker = ChildProcess(
            name: "relay-echo-worker",
            executable: try RelayProcess.binaryURL().deletingLastPathComponent().appendingPathComponent("relay-echo-worker"),
            arguments: ["--relay", "http://127.0.0.1:\(relay.port)", "--redis", redis.url,
                        "--environment", TestEnvironments.devId, "--secret-key", TestEnvironments.devKey],
            environment: nil, logURL: workerDirectory.appendingPathComponent("worker.log"))
        try worker.launch()
        defer { _ = worker.stop(timeout: 5) }
        let external = unique("demo")
        let created = try lb.createSession(.object(["type": "chat.agent", "taskIdentifier": "echo",
                                                    "externalId": .string(external),
                                                    "triggerConfig": .object(["idleTimeoutInSeconds": 20])])).json()
        let token = try XCTUnwrap(created["publicAccessToken"]?.stringValue)
        let page = "http://127.0.0.1:\(DeploymentTests.balancerPort)/demo?session=\(external)&token=\(token)&message=hello&once=1"
        let directory = try makeTemporaryDirectory(prefix: "relay-it-chromium")
        let output = directory.appendingPathComponent("dom.html")
        let browser = Process()
        browser.executableURL = chromium
        browser.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(directory.path)/profile",
                             "--virtual-time-budget=10000", "--dump-dom", page]
        FileManager.default.createFile(atPath: output.path, contents: nil)
        browser.standardOutput = try FileHandle(forWritingTo: output)
        browser.standardError = FileHandle.nullDevice
        try browser.run()
        try waitUntil(timeout: 60, "chromium to print the page") { !browser.isRunning }
        let dom = try String(contentsOf: output, encoding: .utf8)
        XCTAssertTrue(dom.contains("<li class=\"mine\">hello</li>"), "the page sent the message:\n\(dom.prefix(2000))")
        XCTAssertTrue(dom.contains("<li>echo: hello</li>"), "the page shows the echo:\n\(dom.prefix(2000))")
    }
}
