// StatusTests.swift: the live status page (docs/API.md, Status). Three relay nodes with
// distinct RELAY_NODE_NAMEs on one Redis: /status.json on any node lists all three; a node
// killed with SIGKILL drops off within the heartbeat TTL; the figures move with traffic; who
// may read the data (secret keys and the status token, never a public token); the SSE stream
// sends an update a second; the page draws its charts in headless Chromium; no session name or
// externalId ever reaches the heartbeats, the JSON or the page.

import XCTest
import Foundation

final class StatusTests: RelayTestCase {
    static let statusToken = "status-token-for-tests-0123456789"
    static let ttlSeconds = 5.0

    override class var relayEnvironment: [String: String] {
        ["RELAY_STATUS_TOKEN": statusToken, "RELAY_NODE_NAME": "status-node-1"]
    }

    private static var extraNodes: [RelayProcess] = []

    override class func tearDown() {
        extraNodes.forEach { $0.destroy() }
        extraNodes = []
        super.tearDown()
    }

    /// Nodes 2 and 3 (started once per class; restarted if a test killed one).
    private func threeRelays() throws -> [RelayProcess] {
        if Self.extraNodes.isEmpty {
            for index in 2...3 {
                let node = try RelayProcess(redisURL: redis.url, environment: [
                    "RELAY_STATUS_TOKEN": Self.statusToken, "RELAY_NODE_NAME": "status-node-\(index)",
                ])
                try node.start()
                Self.extraNodes.append(node)
            }
        }
        for node in Self.extraNodes where !node.isRunning { try node.restart() }
        return [relay!] + Self.extraNodes
    }

    private func statusAPI(_ port: UInt16? = nil) -> HTTPClient {
        HTTPClient(port: port ?? relay.port, defaultHeaders: [("Authorization", "Bearer \(Self.statusToken)")])
    }

    /// /status.json's nodes, by name.
    private func statusNodes(_ port: UInt16? = nil) throws -> [String: JSON] {
        let response = try statusAPI(port).request("GET", "/status.json")
        guard response.status == 200 else { throw HarnessError("/status.json: \(response)") }
        var nodes: [String: JSON] = [:]
        for node in try response.json()["nodes"]?.arrayValue ?? [] {
            if let name = node["node"]?.stringValue { nodes[name] = node }
        }
        return nodes
    }

    // MARK: The deployment

    func testEveryNodeListsThreeNodesAndAKilledNodeDropsOffWithinTheTTL() throws {
        let nodes = try threeRelays()
        let names: Set<String> = ["status-node-1", "status-node-2", "status-node-3"]
        for node in nodes {
            // Each node reads Redis, so each shows the whole deployment.
            try waitUntil(timeout: 10, "node \(node.port) to list the three nodes") {
                Set(try statusNodes(node.port).keys) == names
            }
        }
        let row = try XCTUnwrap(try statusNodes()["status-node-2"])
        for field in ["version", "uptimeSeconds", "at", "connections", "subscribers", "channels", "appendsPerSec",
                      "deliveriesPerSec", "appendsTotal", "deliveriesTotal", "redisPingMs", "draining"] {
            XCTAssertNotNil(row[field], "heartbeat field \(field): \(row)")
        }

        let victim = Self.extraNodes[1]
        victim.send(signal: SIGKILL)
        let killed = Date()
        try waitUntil(timeout: Self.ttlSeconds + 5, "status-node-3 to drop off /status.json after SIGKILL") {
            try statusNodes()["status-node-3"] == nil
        }
        let gone = Date().timeIntervalSince(killed)
        // Its last heartbeat was at most a second old when it died; the key lives TTL seconds.
        XCTAssertLessThanOrEqual(gone, Self.ttlSeconds + 1.5, "dropped off after \(gone) s")
        XCTAssertEqual(Set(try statusNodes().keys), ["status-node-1", "status-node-2"])
        _ = victim.waitForExit(timeout: 5)
        print("status: a SIGKILLed node dropped off after \(String(format: "%.1f", gone)) s (TTL \(Int(Self.ttlSeconds)) s)")

        // The sorted set of names is trimmed and expires; the live keys carry the TTL.
        let redisClient = try redis.client()
        let ttl = try XCTUnwrap(redisClient.command("TTL", "relay:{status}:node:status-node-1").integer)
        XCTAssertTrue((1...Int(Self.ttlSeconds)).contains(ttl), "heartbeat key TTL \(ttl)")
        XCTAssertGreaterThan(try XCTUnwrap(redisClient.command("PTTL", "relay:{status}:nodes").integer), 0)
        try victim.restart()
    }

    func testADrainingNodeSaysSoAndEndsItsStatusStreams() throws {
        _ = try threeRelays()
        let node = Self.extraNodes[0]
        let stream = try SSEConnection.open(port: node.port, path: "/status/stream?token=\(Self.statusToken)", timeout: 5)
        XCTAssertEqual(stream.status, 200)
        XCTAssertNotNil(try stream.nextDataEvent(timeout: 5))
        node.send(signal: SIGTERM)
        try waitUntil(timeout: 5, "the draining node's status stream to end") {
            try stream.nextDataEvent(timeout: 5) == nil
        }
        try waitUntil(timeout: 5, "node 1 to show status-node-2 as draining") {
            try statusNodes()["status-node-2"]?["draining"]?.boolValue == true
        }
        XCTAssertEqual(node.waitForExit(timeout: 15), 0)
        try waitUntil(timeout: Self.ttlSeconds + 2, "the drained node to drop off") { try statusNodes()["status-node-2"] == nil }
        try node.restart()
    }

    func testFiguresMoveWithAppendsAndDeliveries() throws {
        _ = try threeRelays()
        let before = try XCTUnwrap(try statusNodes()["status-node-1"])
        let appendedBefore = try XCTUnwrap(before["appendsTotal"]?.intValue)
        let deliveredBefore = try XCTUnwrap(before["deliveriesTotal"]?.intValue)

        let session = try api.newSession()
        let stream = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "20")])
        // Spread over two heartbeats, so that a rate is seen, not only the totals.
        for i in 1...30 {
            XCTAssertEqual(try api.append(session, "out", "fig\(i)").status, 200)
            if i % 10 == 0 { Thread.sleep(forTimeInterval: 0.4) }
        }
        for _ in 1...30 { XCTAssertNotNil(try stream.nextDataEvent()) }

        var maxAppendRate = 0.0, maxDeliveryRate = 0.0
        let after = try waitForValue(timeout: 6, interval: 0.25, "the heartbeat to count 30 appends and deliveries") { () -> JSON? in
            let row = try statusNodes()["status-node-1"]
            maxAppendRate = max(maxAppendRate, row?["appendsPerSec"]?.doubleValue ?? 0)
            maxDeliveryRate = max(maxDeliveryRate, row?["deliveriesPerSec"]?.doubleValue ?? 0)
            guard let row, (row["appendsTotal"]?.intValue ?? 0) >= appendedBefore + 30,
                  (row["deliveriesTotal"]?.intValue ?? 0) >= deliveredBefore + 30 else { return nil }
            return row
        }
        XCTAssertGreaterThan(maxAppendRate, 0, "appendsPerSec rose")
        XCTAssertGreaterThan(maxDeliveryRate, 0, "deliveriesPerSec rose")
        XCTAssertGreaterThanOrEqual(after["subscribers"]?.intValue ?? 0, 1, "our stream counts: \(after)")
        XCTAssertGreaterThanOrEqual(after["channels"]?.intValue ?? 0, 1)
        XCTAssertGreaterThanOrEqual(after["connections"]?.intValue ?? 0, 1)
        XCTAssertGreaterThan(after["redisPingMs"]?.doubleValue ?? 0, 0)
        XCTAssertGreaterThan(after["pubsubP99Ms"]?.doubleValue ?? 0, 0, "the pub/sub probe has samples: \(after)")
        XCTAssertGreaterThan(after["uptimeSeconds"]?.intValue ?? -1, -1)
        stream.close()
    }

    // MARK: Who may see it

    func testOnlySecretKeysAndTheStatusTokenOpenTheData() throws {
        _ = try threeRelays()
        let publicToken = try devToken(["admin"])
        // The public token is valid: the session API takes it.
        XCTAssertNotEqual(try api(bearer: publicToken).listSessions().status, 401)
        for path in ["/status.json", "/status/stream"] {
            func get(_ headers: [(String, String)], query: String = "") throws -> HTTPResponse {
                try HTTPClient(port: relay.port, timeout: 5).request("GET", path + query, headers: headers)
            }
            XCTAssertEqual(try get([]).status, 401, "\(path) without credentials")
            let refused = try get([("Authorization", "Bearer \(publicToken)")])
            XCTAssertEqual(refused.status, 401, "\(path) with a public token")
            XCTAssertTrue(refused.errorMessage?.contains("public token") ?? false, "\(refused)")
            XCTAssertEqual(try get([], query: "?token=\(publicToken)").status, 401, "\(path) with a public ?token=")
            XCTAssertEqual(try get([("Authorization", "Bearer not-the-status-token-xxxxxxxx")]).status, 401)
            XCTAssertEqual(try get([], query: "?token=not-the-status-token-xxxxxxxx").status, 401)
            XCTAssertEqual(try get([("Authorization", "Basic abc")]).status, 401)
            if path == "/status.json" {
                XCTAssertEqual(try get([("Authorization", "Bearer \(Self.statusToken)")]).status, 200)
                XCTAssertEqual(try get([], query: "?token=\(Self.statusToken)").status, 200)
                XCTAssertEqual(try get([("Authorization", "Bearer \(TestEnvironments.devKey)")]).status, 200)
                XCTAssertEqual(try get([("Authorization", "Bearer \(TestEnvironments.prodSecondKey)")]).status, 200)
                XCTAssertEqual(try get([], query: "?token=\(TestEnvironments.prodKey)").status, 401,
                               "a secret key is never taken from a URL")
            }
        }
        for credentials in [[("Authorization", "Bearer \(Self.statusToken)")], [("Authorization", "Bearer \(TestEnvironments.devKey)")]] {
            let stream = try SSEConnection.open(port: relay.port, path: "/status/stream", headers: credentials, timeout: 5)
            XCTAssertEqual(stream.status, 200)
            stream.close()
        }
        // The page itself is open and carries no data.
        let page = try http.request("GET", "/status")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.headers["Content-Type"]?.hasPrefix("text/html") ?? false)
        XCTAssertFalse(page.text.contains("status-node-"), "the page shell holds no node data")
        XCTAssertFalse(page.text.contains("<script src"), "no external scripts")
        XCTAssertFalse(page.text.contains("http://") || page.text.contains("https://"), "no external resources")
        XCTAssertNotNil(page.headers["Content-Security-Policy"])
    }

    /// A node name goes into a response header and the status page: control characters (a
    /// CR/LF split the response into an injected header) are a config error.
    func testANodeNameWithControlCharactersIsAConfigError() throws {
        let node = try RelayProcess(redisURL: redis.url, environment: ["RELAY_NODE_NAME": "nl\r\nX-Injected: yes"])
        defer { node.destroy() }
        XCTAssertThrowsError(try node.start(timeout: 10)) { error in
            XCTAssertTrue("\(error)".contains("nodeName"), "\(error)")
        }
    }

    func testAShortStatusTokenIsAConfigError() throws {
        let node = try RelayProcess(redisURL: redis.url, environment: ["RELAY_STATUS_TOKEN": "too-short"])
        defer { node.destroy() }
        XCTAssertThrowsError(try node.start(timeout: 10)) { error in
            XCTAssertTrue("\(error)".contains("statusToken"), "\(error)")
        }
    }

    // MARK: The stream

    func testStatusStreamSendsAnUpdateEverySecond() throws {
        _ = try threeRelays()
        let stream = try SSEConnection.open(port: relay.port, path: "/status/stream?token=\(Self.statusToken)", timeout: 5)
        XCTAssertEqual(stream.status, 200)
        XCTAssertEqual(stream.headers["Content-Type"], "text/event-stream")
        var stamps: [Int] = []
        let started = Date()
        while stamps.count < 3 {
            let event = try XCTUnwrap(try stream.nextDataEvent(timeout: 5), "the status stream ended")
            let snapshot = try event.json()
            let nodes = try XCTUnwrap(snapshot["nodes"]?.arrayValue)
            XCTAssertTrue(nodes.contains { $0["node"]?.stringValue == "status-node-1" }, "\(snapshot)")
            XCTAssertEqual(snapshot["servedBy"]?.stringValue, "status-node-1")
            stamps.append(try XCTUnwrap(snapshot["now"]?.intValue))
        }
        XCTAssertEqual(stamps, stamps.sorted())
        // The first comes at once, then one per heartbeat.
        XCTAssertLessThan(Date().timeIntervalSince(started), 4.5)
        stream.close()
    }

    func testStatusStreamsAreCappedPerNode() throws {
        _ = try threeRelays()
        var open: [SSEConnection] = []
        var refused: SSEConnection?
        defer { open.forEach { $0.close() } }
        for _ in 0..<101 {
            let stream = try SSEConnection.open(port: relay.port, path: "/status/stream?token=\(Self.statusToken)", timeout: 5)
            if stream.status == 200 { open.append(stream) } else { refused = stream; break }
        }
        print("status: \(open.count) status streams accepted, then \(refused?.status ?? 0)")
        let answer = try XCTUnwrap(refused, "the 101st status stream on a node is refused")
        XCTAssertEqual(answer.status, 503, "after \(open.count) accepted")
        XCTAssertTrue((90...100).contains(open.count), "\(open.count) accepted before the 503")
        XCTAssertTrue(String(decoding: try answer.readRemainingBody(timeout: 5), as: UTF8.self).contains("Too many status streams"))
        open.forEach { $0.close() }
        open = []
        // Closed streams free their places.
        try waitUntil(timeout: 10, "a status stream to be accepted again") {
            let stream = try SSEConnection.open(port: relay.port, path: "/status/stream?token=\(Self.statusToken)", timeout: 5)
            defer { stream.close() }
            return stream.status == 200
        }
    }

    // MARK: The page, and what never appears

    func testPageDrawsItsChartsInHeadlessChromiumAndNoSessionNameAppears() throws {
        let nodes = try threeRelays()
        guard let chromium = ChildProcess.findExecutable("chromium") else {
            throw HarnessError("chromium not found (Debian: apt-get install -y chromium; scripts/install-deps does it)")
        }
        // A session with a distinctive externalId, traffic on it, a subscriber on every node.
        let external = "zz-do-not-leak-" + UUID().uuidString.lowercased()
        let session = try api.newSession(externalId: external)
        let streams = try nodes.map {
            try RelayAPI(port: $0.port, bearer: TestEnvironments.devKey).subscribe(external, "out", headers: [("Timeout-Seconds", "30")])
        }
        defer { streams.forEach { $0.close() } }
        for i in 1...3 {
            for j in 1...5 { XCTAssertEqual(try api.append(external, "out", "\(external) #\(i).\(j)").status, 200) }
            Thread.sleep(forTimeInterval: 1)
        }
        try waitUntil(timeout: 10, "all three nodes to report a subscriber") {
            let rows = try statusNodes()
            return rows.count == 3 && rows.values.allSatisfy { ($0["subscribers"]?.intValue ?? 0) >= 1 }
        }

        // A fourth row named "__proto__" (a heartbeat written as a node would): the page used
        // plain objects as maps, and such a name stopped every update on every node's page.
        guard case .object(var fields)? = try statusNodes()["status-node-1"] else { throw HarnessError("no heartbeat") }
        fields["node"] = .string("__proto__")
        let protoWriter = try redis.client()
        _ = try protoWriter.checked("SET", "relay:{status}:node:__proto__", String(decoding: JSON.object(fields).data, as: UTF8.self), "EX", "60")
        _ = try protoWriter.checked("ZADD", "relay:{status}:nodes", String(Int(Date().timeIntervalSince1970 * 1000)), "__proto__")
        defer { _ = try? protoWriter.command("DEL", "relay:{status}:node:__proto__") }
        try waitUntil(timeout: 5, "the __proto__ row in /status.json") { try statusNodes()["__proto__"] != nil }

        let page = "http://127.0.0.1:\(relay.port)/status?token=\(Self.statusToken)&samples=4"
        let directory = try makeTemporaryDirectory(prefix: "relay-it-status-chromium")
        func runChromium(_ mode: [String], stdout: URL?) throws {
            let profile = try makeTemporaryDirectory(prefix: "relay-it-status-profile")
            defer { try? FileManager.default.removeItem(at: profile) }
            let browser = Process()
            browser.executableURL = chromium
            browser.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)",
                                 "--virtual-time-budget=5000", "--window-size=1200,900"] + mode + [page]
            if let stdout {
                _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
                browser.standardOutput = try FileHandle(forWritingTo: stdout)
            } else {
                browser.standardOutput = FileHandle.nullDevice
            }
            browser.standardError = FileHandle.nullDevice
            try browser.run()
            do {
                try waitUntil(timeout: 60, "chromium to finish") { !browser.isRunning }
            } catch {
                browser.terminate()
                throw error
            }
        }

        // 1. The DOM after four updates: the page counts its own coloured canvas pixels.
        let domFile = directory.appendingPathComponent("dom.html")
        try runChromium(["--dump-dom"], stdout: domFile)
        let dom = try String(contentsOf: domFile, encoding: .utf8)
        let painted = dom.firstMatch(of: #/data-coloured-pixels="(\d+)"/#).flatMap { Int($0.1) } ?? 0
        let samples = dom.firstMatch(of: #/data-samples="(\d+)"/#).flatMap { Int($0.1) } ?? 0
        XCTAssertGreaterThanOrEqual(samples, 2, "the page took at least two updates:\n\(dom.prefix(3000))")
        XCTAssertGreaterThan(painted, 200, "the charts drew coloured lines:\n\(dom.prefix(3000))")
        for name in ["status-node-1", "status-node-2", "status-node-3", "__proto__"] {
            XCTAssertTrue(dom.contains("<td>\(name)</td>"), "the table lists \(name)")
        }

        // 2. A screenshot: only the charts use colour, so coloured pixels are chart pixels.
        let shot = directory.appendingPathComponent("status.png")
        try runChromium(["--screenshot=\(shot.path)"], stdout: nil)
        let coloured = try colouredPixels(png: shot)
        XCTAssertGreaterThan(coloured, 200, "coloured (chart) pixels in \(shot.path)")
        print("status: page DOM reports \(painted) coloured canvas pixels after \(samples) updates; screenshot \(shot.path) has \(coloured)")

        // 3. The session's names appear nowhere: not in the page, the JSON, the stream or Redis.
        XCTAssertFalse(dom.contains(external), "externalId in the page")
        XCTAssertFalse(dom.contains(session), "session id in the page")
        let json = try statusAPI().request("GET", "/status.json").text
        XCTAssertFalse(json.contains(external) || json.contains(session) || json.contains("zz-do-not-leak"), json)
        let event = try SSEConnection.open(port: relay.port, path: "/status/stream?token=\(Self.statusToken)", timeout: 5)
        let data = try XCTUnwrap(try event.nextDataEvent()?.data)
        event.close()
        XCTAssertFalse(data.contains(external) || data.contains(session), data)
        let redisClient = try redis.client()
        for key in try redisClient.keys("relay:{status}:*") where !key.hasSuffix(":nodes") {
            let value = try redisClient.command("GET", key).string ?? ""
            XCTAssertFalse(value.contains(external) || value.contains(session) || value.contains(TestEnvironments.devKey)
                           || value.contains(Self.statusToken), "\(key): \(value)")
        }
    }

    /// Pixels whose channels differ by more than 40 (saturated colour), counted by python3 from
    /// the PNG (zlib, filters undone; 8-bit RGB or RGBA, not interlaced: what Chromium writes).
    private func colouredPixels(png: URL) throws -> Int {
        guard let python = ChildProcess.findExecutable("python3") else { throw HarnessError("python3 not found") }
        let script = """
            import sys, zlib, struct
            data = open(sys.argv[1], 'rb').read()
            assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            pos, idat, width, height, ctype = 8, b'', 0, 0, 0
            while pos < len(data):
                length, kind = struct.unpack('>I4s', data[pos:pos + 8])
                body = data[pos + 8:pos + 8 + length]
                if kind == b'IHDR':
                    width, height, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
                    assert depth == 8 and interlace == 0 and ctype in (2, 6)
                elif kind == b'IDAT':
                    idat += body
                pos += 12 + length
            raw = zlib.decompress(idat)
            bpp = 4 if ctype == 6 else 3
            stride = width * bpp
            prev = bytearray(stride)
            count = 0
            i = 0
            for y in range(height):
                f = raw[i]; line = bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
                for x in range(stride):
                    a = line[x - bpp] if x >= bpp else 0
                    b = prev[x]
                    c = prev[x - bpp] if x >= bpp else 0
                    if f == 1: line[x] = (line[x] + a) & 255
                    elif f == 2: line[x] = (line[x] + b) & 255
                    elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
                    elif f == 4:
                        p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                        line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
                for x in range(0, stride, bpp):
                    r, g, bl = line[x], line[x + 1], line[x + 2]
                    if max(r, g, bl) - min(r, g, bl) > 40: count += 1
                prev = line
            print(count)
            """
        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", script, png.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let count = Int(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("cannot decode \(png.path) (python3 exit \(process.terminationStatus))")
        }
        return count
    }
}
