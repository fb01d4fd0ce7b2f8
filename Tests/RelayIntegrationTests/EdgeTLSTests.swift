// EdgeTLSTests.swift: TLS and HTTP/2 at the balancer. Three relay nodes on one Redis behind
// Debian's haproxy started with config/haproxy.cfg plus config/haproxy-tls.cfg (ports and the
// certificate path rewritten; the certificate made by scripts/dev-cert). Proves:
//   - headless Chromium holds 12 EventSources over HTTP/2 through the TLS frontend and all 12
//     get their records live, while the same page over the plain HTTP/1.1 frontend gets only
//     6 of them going (the browser's per-origin connection limit);
//   - curl over HTTP/2 (and HTTP/1.1 over TLS) gets each record before the next is appended;
//   - the idle timeout (Timeout-Seconds / ?timeoutSeconds=), the pings and the drain on
//     SIGTERM end streams cleanly through TLS, as through the plain frontend.
// The browser page is served by a ReportingPageServer and reports each event to it (fetch),
// so nothing depends on --dump-dom or virtual time.

#if canImport(Glibc)
import Glibc
#endif
import XCTest
import Foundation

final class EdgeTLSTests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_DRAIN_GRACE_SECONDS": "1", "RELAY_PING_INTERVAL_SECONDS": "1"]
    }

    private static var extraNodes: [RelayProcess] = []
    private static var balancer: ChildProcess?
    private static var plainPort: UInt16 = 0
    private static var tlsPort: UInt16 = 0

    override class func tearDown() {
        _ = balancer?.stop(timeout: 5)
        balancer = nil
        extraNodes.forEach { $0.destroy() }
        extraNodes = []
        super.tearDown()
    }

    private static var repository: URL { Haproxy.repository }

    private var tlsBase: String { "https://127.0.0.1:\(Self.tlsPort)" }
    private var plainBase: String { "http://127.0.0.1:\(Self.plainPort)" }
    private var haproxyLog: String { (try? String(contentsOf: Self.balancer!.logURL, encoding: .utf8)) ?? "" }

    /// The three nodes (the class's relay first) and haproxy with both frontends, started once
    /// per class; the API through the plain frontend.
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
            Self.plainPort = try freeLocalPort()
            Self.tlsPort = try freeLocalPort()
            let directory = try makeTemporaryDirectory(prefix: "relay-it-edge")
            // The certificate, as a developer makes it.
            let certDirectory = directory.appendingPathComponent("cert")
            let script = Self.repository.appendingPathComponent("scripts/dev-cert").path
            let printed = String(decoding: try ChildProcess.run("bash", [script, certDirectory.path], timeout: 60), as: UTF8.self)
            let pem = certDirectory.appendingPathComponent("haproxy.pem")
            XCTAssertTrue(printed.contains(pem.path), "dev-cert names the PEM it wrote:\n\(printed)")

            var config = try String(contentsOf: Self.repository.appendingPathComponent("config/haproxy.cfg"), encoding: .utf8)
            config = try replacing("bind 127.0.0.1:8000", with: "bind 127.0.0.1:\(Self.plainPort)", in: config)
            for (index, node) in nodes.enumerated() {
                config = try replacing("127.0.0.1:808\(index + 1) check", with: "127.0.0.1:\(node.port) check", in: config)
            }
            // Request logs (level info), so the test can see which protocol each stream used.
            config = try replacing("local0 warning", with: "local0 info", in: config)
            var tls = try String(contentsOf: Self.repository.appendingPathComponent("config/haproxy-tls.cfg"), encoding: .utf8)
            tls = try replacing("bind 127.0.0.1:8443 ssl crt config/dev-cert/haproxy.pem",
                                with: "bind 127.0.0.1:\(Self.tlsPort) ssl crt \(pem.path)", in: tls)
            let plainFile = directory.appendingPathComponent("haproxy.cfg")
            let tlsFile = directory.appendingPathComponent("haproxy-tls.cfg")
            try config.write(to: plainFile, atomically: true, encoding: .utf8)
            try tls.write(to: tlsFile, atomically: true, encoding: .utf8)
            let haproxy = try Haproxy.executable()
            let process = ChildProcess(name: "haproxy", executable: haproxy,
                                       arguments: ["-f", plainFile.path, "-f", tlsFile.path, "-db"],
                                       environment: nil, logURL: directory.appendingPathComponent("haproxy.log"))
            try process.launch()
            Self.balancer = process
        }
        let lb = RelayAPI(port: Self.plainPort, bearer: TestEnvironments.devKey)
        try waitUntil(timeout: 15, "haproxy to route to a ready node") {
            guard Self.balancer?.isRunning == true else { throw HarnessError("haproxy exited:\n\(haproxyLog)") }
            return (try? lb.http.request("GET", "/readyz"))?.status == 200
        }
        try waitUntil(timeout: 15, interval: 0.2, "haproxy's TLS frontend to answer /readyz over HTTP/2") {
            let curl = try CurlStream(["--http2", "-k", "-sS", "--max-time", "3", "-w", "\\nHTTP_VERSION=%{http_version}", "\(tlsBase)/readyz"])
            return curl.waitForExit(timeout: 5) == 0 && curl.output.contains("HTTP_VERSION=2")
        }
        return (nodes, lb)
    }

    private func replacing(_ text: String, with replacement: String, in config: String) throws -> String {
        guard config.contains(text) else { throw HarnessError("the haproxy config no longer contains \(text.debugDescription)") }
        return config.replacingOccurrences(of: text, with: replacement)
    }

    /// The port in an X-Relay-Node value ("host:port/pid").
    private func nodePort(_ header: String?) -> UInt16? {
        header.flatMap { $0.split(separator: "/").first?.split(separator: ":").last }.flatMap { UInt16($0) }
    }

    // MARK: Chromium

    /// Twelve EventSources on twelve sessions from one page: through the TLS frontend (HTTP/2,
    /// one connection) every stream opens and gets every record, each before the next append;
    /// through the plain frontend (HTTP/1.1) only 6 open, the other 6 wait for a connection.
    func testChromiumHolds12EventSourcesOverHTTP2ButOnly6OverHTTP11() throws {
        let (_, lb) = try relaysBehindHaproxy()
        let count = 12

        // HTTP/2 through TLS.
        let sessions = try (0..<count).map { _ in try EventSourcePage.tokenSession(lb) }
        let server = try ReportingPageServer(page: try EventSourcePage.html(sessions, timeoutSeconds: 60))
        defer { server.stop() }
        let browser = try EventSourcePage.launchChromium("http://127.0.0.1:\(server.port)/?relay=\(tlsBase)")
        defer { _ = browser.stop(timeout: 10) }
        do {
            try waitUntil(timeout: 60, "all \(count) EventSources to open over HTTP/2") {
                guard browser.isRunning else { throw HarnessError("chromium exited:\n\(browser.logTail())") }
                return Set(EventSourcePage.reports(server).filter { $0.kind == "open" }.compactMap(\.stream)).count == count
            }
        } catch {
            throw HarnessError("\(error)\nreports:\n\(server.received.joined(separator: "\n"))")
        }
        for round in 1...3 {
            for (index, session) in sessions.enumerated() {
                XCTAssertEqual(try lb.append(session.id, "out", "s\(index)-r\(round)").status, 200)
            }
            // Live: every stream shows this round's record before the next round is appended.
            do {
                try waitUntil(timeout: 15, "round \(round) to reach all \(count) streams") {
                    let got = EventSourcePage.reports(server).filter { $0.kind == "message" && $0.shown == round }
                    return Set(got.compactMap(\.stream)).count == count
                }
            } catch {
                XCTFail("\(error)\nreports:\n\(server.received.joined(separator: "\n"))")
                return
            }
        }
        for report in EventSourcePage.reports(server) where report.kind == "message" {
            let index = try XCTUnwrap(report.stream)
            XCTAssertEqual(report.data, "s\(index)-r\(report.shown ?? 0)", "stream \(index) got its own records, in order")
        }
        XCTAssertEqual(EventSourcePage.reports(server).filter { $0.kind == "error" }.count, 0, "no stream failed or reconnected")
        _ = browser.stop(timeout: 10)

        // haproxy logs each stream as it ends: all 12 came over HTTP/2 on the TLS frontend, on one
        // client connection.
        let lines = try waitForValue(timeout: 15, "haproxy to log the \(count) closed streams") { () -> [Substring]? in
            let log = haproxyLog.split(separator: "\n")
            let lines = sessions.compactMap { session in log.last { $0.contains(session.id) } }
            return lines.count == count ? lines : nil
        }
        for line in lines {
            XCTAssertTrue(line.contains(" relay_tls~ ") && line.contains(" HTTP/2.0\""), "over TLS and HTTP/2: \(line)")
        }
        XCTAssertEqual(Set(lines.map { $0.split(separator: " ").first ?? "" }).count, 1,
                       "one client connection carried all \(count) streams:\n\(lines.joined(separator: "\n"))")

        // The same page over plain HTTP/1.1.
        let plainSessions = try (0..<count).map { _ in try EventSourcePage.tokenSession(lb) }
        let plainServer = try ReportingPageServer(page: try EventSourcePage.html(plainSessions, timeoutSeconds: 60))
        defer { plainServer.stop() }
        let plainBrowser = try EventSourcePage.launchChromium("http://127.0.0.1:\(plainServer.port)/?relay=\(plainBase)")
        defer { _ = plainBrowser.stop(timeout: 10) }
        try waitUntil(timeout: 60, "the first EventSources to open over HTTP/1.1") {
            guard plainBrowser.isRunning else { throw HarnessError("chromium exited:\n\(plainBrowser.logTail())") }
            return Set(EventSourcePage.reports(plainServer).filter { $0.kind == "open" }.compactMap(\.stream)).count >= 6
        }
        Thread.sleep(forTimeInterval: 3)  // time for more to open, if they could
        let opened = Set(EventSourcePage.reports(plainServer).filter { $0.kind == "open" }.compactMap(\.stream))
        for (index, session) in plainSessions.enumerated() {
            XCTAssertEqual(try lb.append(session.id, "out", "s\(index)-r1").status, 200)
        }
        try waitUntil(timeout: 15, "the open streams to get their record") {
            Set(EventSourcePage.reports(plainServer).filter { $0.kind == "message" }.compactMap(\.stream)).isSuperset(of: opened)
        }
        Thread.sleep(forTimeInterval: 2)  // any other stream gets the same bound
        let received = Set(EventSourcePage.reports(plainServer).filter { $0.kind == "message" }.compactMap(\.stream))
        XCTAssertLessThan(received.count, count, "over HTTP/1.1 not every stream can run at once")
        XCTAssertEqual(received.count, 6, "Chromium's 6 connections per host over HTTP/1.1; got \(received.sorted())")
        XCTAssertEqual(opened, received)
    }

    // MARK: curl

    /// Through the TLS frontend, with HTTP/2 and with HTTP/1.1 (ALPN), each record arrives
    /// before the next one is appended: haproxy does not buffer the stream.
    func testCurlThroughTLSGetsEachRecordBeforeTheNextIsAppended() throws {
        let (_, lb) = try relaysBehindHaproxy()
        for (option, statusLine) in [("--http2", "HTTP/2 200"), ("--http1.1", "HTTP/1.1 200")] {
            let session = try EventSourcePage.tokenSession(lb)
            let curl = try CurlStream([option, "-k", "-sS", "-N", "-i", "--max-time", "30", "-H", "Accept: text/event-stream",
                                       EventSourcePage.streamURL(tlsBase, session, query: "&timeoutSeconds=20")])
            defer { curl.stop() }
            try curl.waitFor(statusLine)
            try curl.waitFor(": ping")
            for i in 1...5 {
                XCTAssertFalse(curl.output.contains("\"data\":\"r\(i)\""), "\(option): r\(i) not appended yet")
                XCTAssertEqual(try lb.append(session.id, "out", "r\(i)").status, 200)
                try curl.waitFor("id: \(i)\ndata: {\"data\":\"r\(i)\"", timeout: 5)
            }
            XCTAssertTrue(curl.isRunning, "\(option): the stream is still open")
        }
    }

    // MARK: Idle timeout, pings

    /// Timeout-Seconds (header) and ?timeoutSeconds= end a stream through TLS/HTTP/2 after the
    /// same time as through the plain frontend, with pings meanwhile and a clean end (curl exits
    /// 0: for HTTP/2 an END_STREAM, not a reset).
    func testIdleTimeoutAndPingsThroughTLSAsThroughThePlainFrontend() throws {
        let (_, lb) = try relaysBehindHaproxy()
        let seconds = 4
        let cases: [(name: String, arguments: (String, String, String) -> [String])] = [
            ("TLS, HTTP/2, Timeout-Seconds header", { url, _, _ in ["--http2", "-H", "Timeout-Seconds: \(seconds)", url] }),
            ("TLS, HTTP/2, ?timeoutSeconds=", { _, urlWithQuery, _ in ["--http2", urlWithQuery] }),
            ("plain HTTP/1.1, Timeout-Seconds header", { _, _, plainURL in ["--http1.1", "-H", "Timeout-Seconds: \(seconds)", plainURL] }),
        ]
        var runs: [(name: String, session: (id: String, token: String), curl: CurlStream)] = []
        for (name, arguments) in cases {
            let session = try EventSourcePage.tokenSession(lb)
            let curl = try CurlStream(["-k", "-sS", "-N", "--max-time", "30", "-w", "\\nHTTP_VERSION=%{http_version}\\n"]
                + arguments(EventSourcePage.streamURL(tlsBase, session), EventSourcePage.streamURL(tlsBase, session, query: "&timeoutSeconds=\(seconds)"),
                            EventSourcePage.streamURL(plainBase, session)))
            runs.append((name, session, curl))
        }
        defer { runs.forEach { $0.curl.stop() } }
        for run in runs {
            try run.curl.waitFor(": ping")
            XCTAssertEqual(try lb.append(run.session.id, "out", "idle").status, 200)
            try run.curl.waitFor("data: {\"data\":\"idle\"", timeout: 5)
        }
        var elapsed: [TimeInterval] = []
        for run in runs {
            let status = run.curl.waitForExit(timeout: Double(seconds) + 10)
            XCTAssertEqual(status, 0, "\(run.name): a clean end\n\(run.curl.output)\n\(run.curl.errors)")
            elapsed.append(run.curl.elapsed)
            let output = run.curl.output
            XCTAssertGreaterThanOrEqual(output.components(separatedBy: ": ping").count - 1, 2, "\(run.name): pings every second\n\(output)")
            // After the record: only pings, then the end.
            let afterRecord = output.components(separatedBy: "data: {\"data\":\"idle\"").last ?? ""
            let rest = afterRecord.split(separator: "\n").dropFirst().filter { !$0.isEmpty && $0 != ": ping" && !$0.hasPrefix("HTTP_VERSION=") }
            XCTAssertEqual(rest, [], "\(run.name): nothing but pings after the record")
            XCTAssertTrue(output.contains(run.name.contains("HTTP/2") ? "HTTP_VERSION=2" : "HTTP_VERSION=1.1"), "\(run.name): \(output)")
        }
        for (run, time) in zip(runs, elapsed) {
            XCTAssertGreaterThanOrEqual(time, Double(seconds) - 0.5, "\(run.name) ended after \(time) s")
            XCTAssertLessThan(time, Double(seconds) + 5, "\(run.name) ended after \(time) s")
        }
        XCTAssertLessThan(abs(elapsed[0] - elapsed[2]), 2, "TLS and plain end alike: \(elapsed)")
    }

    // MARK: Drain

    /// SIGTERM on a node ends its streams through TLS/HTTP/2 as through the plain frontend: a
    /// clean end after the records it had, no record after; the client resumes through TLS with
    /// Last-Event-ID on another node and loses nothing.
    func testDrainOnSIGTERMEndsStreamsThroughTLSCleanly() throws {
        let (nodes, lb) = try relaysBehindHaproxy()
        let session = try EventSourcePage.tokenSession(lb)
        // An HTTP/2 stream through TLS that landed on one of the extra nodes (node 1 is the fixture).
        var tlsStream: CurlStream?
        var victim: RelayProcess?
        for _ in 0..<12 where victim == nil {
            let curl = try CurlStream(["--http2", "-k", "-sS", "-N", "-i", "--max-time", "60", "-H", "Timeout-Seconds: 50",
                                       "-w", "\\nHTTP_VERSION=%{http_version}\\n", EventSourcePage.streamURL(tlsBase, session)])
            try curl.waitFor(": ping")
            let header = curl.output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-relay-node:") }
            if let port = nodePort(header.map { String($0.dropFirst("x-relay-node:".count)).trimmingCharacters(in: .whitespaces) }),
               let node = Self.extraNodes.first(where: { $0.port == port }) {
                tlsStream = curl
                victim = node
            } else {
                curl.stop()
            }
        }
        let draining = try XCTUnwrap(victim, "no TLS stream landed on node 2 or 3")
        let curl = try XCTUnwrap(tlsStream)
        defer { curl.stop() }
        // A plain HTTP/1.1 stream through the balancer on the same node, for comparison.
        var plain: SSEConnection?
        for _ in 0..<20 where plain == nil {
            let candidate = try lb.subscribe(session.id, "out", headers: [("Timeout-Seconds", "50")])
            if nodePort(candidate.headers["X-Relay-Node"]) == draining.port { plain = candidate }
        }
        let sse = try XCTUnwrap(plain, "no plain stream landed on the node to drain")
        for i in 1...3 { XCTAssertEqual(try lb.append(session.id, "out", "r\(i)").status, 200) }
        try curl.waitFor("id: 3\ndata: {\"data\":\"r3\"")
        for i in 1...3 { XCTAssertEqual(try sse.nextDataEvent()?.id, String(i)) }

        let signalled = Date()
        draining.send(signal: SIGTERM)
        XCTAssertEqual(curl.waitForExit(timeout: 15), 0, "the TLS stream ends cleanly (END_STREAM)\n\(curl.output)\n\(curl.errors)")
        let tlsEnd = Date().timeIntervalSince(signalled)
        while let event = try sse.nextEvent(timeout: 15) {
            XCTAssertTrue(event.isCommentOnly, "no record after the drain began: \(event)")
        }
        let plainEnd = Date().timeIntervalSince(signalled)
        XCTAssertTrue(curl.output.contains("HTTP_VERSION=2"), curl.output)
        let afterLast = curl.output.components(separatedBy: "data: {\"data\":\"r3\"").last ?? ""
        XCTAssertFalse(afterLast.contains("data:"), "no record after the last one: \(afterLast)")
        XCTAssertLessThan(abs(tlsEnd - plainEnd), 3, "TLS ended after \(tlsEnd) s, plain after \(plainEnd) s")
        XCTAssertEqual(draining.waitForExit(timeout: 15), 0, "the node exits 0 within the drain timeout")

        // Records appended meanwhile; the client resumes through TLS on another node.
        for i in 4...6 { XCTAssertEqual(try lb.append(session.id, "out", "r\(i)").status, 200) }
        let resumed = try CurlStream(["--http2", "-k", "-sS", "-N", "-i", "--max-time", "20", "-H", "Last-Event-ID: 3",
                                      "-H", "Timeout-Seconds: 2", EventSourcePage.streamURL(tlsBase, session)])
        defer { resumed.stop() }
        XCTAssertEqual(resumed.waitForExit(timeout: 20), 0, resumed.errors)
        let output = resumed.output
        XCTAssertFalse(output.lowercased().contains("x-relay-node: \(ProcessInfo.processInfo.hostName.lowercased()):\(draining.port)/"))
        for i in 4...6 { XCTAssertTrue(output.contains("id: \(i)\ndata: {\"data\":\"r\(i)\""), "resume loses nothing:\n\(output)") }
        XCTAssertFalse(output.contains("id: 3\n"), "resume starts after Last-Event-ID:\n\(output)")
        try draining.restart()
        XCTAssertTrue(nodes.allSatisfy(\.isRunning))
    }
}
