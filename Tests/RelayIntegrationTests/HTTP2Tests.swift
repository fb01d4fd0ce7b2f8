// HTTP2Tests.swift: HTTP/2 straight at the relay, with curl (a client nobody here wrote) and
// headless Chromium. Proves:
//   - every route answers the same over HTTP/2 with prior knowledge (h2c) as over HTTP/1.1 on
//     the same port: statuses, content types, CORS, error shapes, SSE framing;
//   - many SSE streams share one HTTP/2 connection and each gets its records live;
//   - with tlsCertFile/tlsKeyFile the relay speaks HTTPS and ALPN picks HTTP/2 or HTTP/1.1;
//     a client that never finishes its handshake is closed at the head deadline;
//   - Chromium holds 12 EventSources on one origin straight at the relay over TLS, all live
//     at once (over HTTP/1.1 it would hold 6);
//   - the idle timeout ends an HTTP/2 SSE stream cleanly (END_STREAM: curl exits 0), and a
//     draining node ends its HTTP/2 streams cleanly too.

#if canImport(Glibc)
import Glibc
#endif
import XCTest
import Foundation

final class HTTP2Tests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_PING_INTERVAL_SECONDS": "1", "RELAY_DRAIN_GRACE_SECONDS": "0", "RELAY_REQUEST_LOG": "1"]
    }

    private var base: String { "http://127.0.0.1:\(relay.port)" }

    /// One response as curl saw it.
    private struct CurlResponse {
        let version: String
        let status: Int
        /// Lowercased names.
        let headers: [String: String]
        let body: String
    }

    /// Runs curl once (`--http2-prior-knowledge` or `--http1.1`, ...); the head and the body go
    /// to files (read once curl has exited), the protocol version to stdout.
    private func curl(_ protocolOption: String, _ method: String, _ url: String, headers: [String] = [],
                      body: String? = nil, maxTime: Int = 10) throws -> CurlResponse {
        let directory = try makeTemporaryDirectory(prefix: "relay-it-h2curl")
        defer { try? FileManager.default.removeItem(at: directory) }
        let headFile = directory.appendingPathComponent("head"), bodyFile = directory.appendingPathComponent("body")
        // -k: the TLS node's certificate is self-signed.
        var arguments = [protocolOption, "-k", "-sS", "--max-time", String(maxTime), "-w", "%{http_version}",
                         "-D", headFile.path, "-o", bodyFile.path]
        arguments += method == "HEAD" ? ["-I"] : ["-X", method]
        for header in headers { arguments += ["-H", header] }
        if let body { arguments += ["--data-binary", body] }
        arguments.append(url)
        let process = try CurlStream(arguments)
        guard process.waitForExit(timeout: TimeInterval(maxTime + 5)) != nil else { throw HarnessError("curl did not finish: \(arguments)") }
        let head = (try? String(contentsOf: headFile, encoding: .utf8)) ?? ""
        let headLines = head.split(separator: "\r\n")
        let statusParts = headLines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw HarnessError("no status from curl \(arguments):\n\(head)\n\(process.errors)")
        }
        var fields: [String: String] = [:]
        for line in headLines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = (try? String(contentsOf: bodyFile, encoding: .utf8)) ?? ""
        return CurlResponse(version: process.output.trimmingCharacters(in: .whitespacesAndNewlines), status: status,
                            headers: fields, body: body)
    }

    /// The shape of a JSON body: its top-level keys (values differ between two sessions).
    private func shape(_ body: String) -> String {
        guard let json = try? JSON(parsing: body) else { return body.isEmpty ? "(empty)" : "(not JSON)" }
        if case .object(let fields) = json { return fields.keys.sorted().joined(separator: ",") }
        return "(JSON)"
    }

    /// The same sequence of requests, once over HTTP/1.1 and once over h2c on the same port,
    /// each on its own session: every answer has the same status, content type, CORS headers
    /// and body shape, and the SSE streams carry the same events.
    func testEveryRouteAnswersAlikeOverHTTP2AndHTTP11() throws {
        let key = "Authorization: Bearer \(TestEnvironments.devKey)"
        let bigFile = try makeTemporaryDirectory(prefix: "relay-it-h2body").appendingPathComponent("big")
        try Data(repeating: UInt8(ascii: "x"), count: 1_100_000).write(to: bigFile)
        let big = "@" + bigFile.path
        func sequence(_ option: String) throws -> [(String, CurlResponse)] {
            let id = unique(option == "--http1.1" ? "h1" : "h2")
            let channel = "\(base)\(RelayAPI.channelPath(id, "out"))"
            let create = #"{"type":"chat.agent","taskIdentifier":"t","externalId":"\#(id)"}"#
            let steps: [(String, String, String, [String], String?)] = [
                ("create", "POST", "\(base)/api/v1/sessions", [key], create),
                ("create again", "POST", "\(base)/api/v1/sessions", [key], create),
                ("retrieve", "GET", "\(base)/api/v1/sessions/\(id)", [key], nil),
                ("list", "GET", "\(base)/api/v1/sessions?page%5Bsize%5D=1", [key], nil),
                ("update", "PATCH", "\(base)/api/v1/sessions/\(id)", [key], #"{"tags":["a"]}"#),
                ("append", "POST", "\(channel)/append", [key, "X-Part-Id: p1"], #"{"n":1}"#),
                ("append again", "POST", "\(channel)/append", [key, "X-Part-Id: p1"], #"{"n":1}"#),
                ("control", "POST", "\(channel)/control", [key], #"{"subtype":"turn-complete"}"#),
                ("drain", "GET", "\(channel)/records?afterEventId=0", [key], nil),
                ("stream", "GET", channel, [key, "Last-Event-ID: 0", "Timeout-Seconds: 1"], nil),
                ("head", "HEAD", "\(base)/healthz", [], nil),
                ("preflight", "OPTIONS", channel, ["Origin: https://app.test", "Access-Control-Request-Method: GET"], nil),
                ("cors", "GET", "\(base)/api/v1/sessions/\(id)", [key, "Origin: https://app.test"], nil),
                ("no credentials", "GET", "\(base)/api/v1/sessions/\(id)", [], nil),
                ("bad token", "GET", "\(base)/api/v1/sessions/\(id)", ["Authorization: Bearer nope"], nil),
                ("unknown route", "GET", "\(base)/nope", [key], nil),
                ("wrong method", "DELETE", "\(base)/api/v1/sessions/\(id)", [key], nil),
                ("malformed JSON", "POST", "\(base)/api/v1/sessions", [key], "{"),
                ("healthz", "GET", "\(base)/healthz", [], nil),
                ("readyz", "GET", "\(base)/readyz", [], nil),
                ("client.js", "GET", "\(base)/client.js", [], nil),
                ("close", "POST", "\(base)/api/v1/sessions/\(id)/close", [key], #"{"reason":"done"}"#),
                ("append after close", "POST", "\(channel)/append", [key], #"{"n":2}"#),
            ]
            return try steps.map { step in
                do {
                    return (step.0, try curl(option, step.1, step.2, headers: step.3, body: step.4))
                } catch {
                    throw HarnessError("\(step.0) over \(option): \(error)")
                }
            }
        }
        let one = try sequence("--http1.1")
        let two = try sequence("--http2-prior-knowledge")
        XCTAssertEqual(one.count, two.count)
        for ((name, a), (_, b)) in zip(one, two) {
            XCTAssertEqual(a.version, "1.1", name)
            XCTAssertEqual(b.version, "2", "\(name) went over HTTP/2")
            XCTAssertEqual(a.status, b.status, "\(name): same status")
            XCTAssertEqual(a.headers["content-type"], b.headers["content-type"], "\(name): same content type")
            for cors in ["access-control-allow-origin", "access-control-expose-headers", "access-control-allow-methods",
                         "access-control-allow-headers", "allow"] {
                XCTAssertEqual(a.headers[cors], b.headers[cors], "\(name): same \(cors)")
            }
            XCTAssertEqual(a.headers["content-length"] != nil, b.headers["content-length"] != nil,
                           "\(name): a content length on both or neither")
            if name == "stream" {
                // The same events (the control record's token is the session's own; pings depend on time).
                let framing = { (body: String) in body.split(separator: "\n").filter { $0.hasPrefix("id:") || $0.hasPrefix("event:") || $0.hasPrefix("retry:") } }
                XCTAssertEqual(framing(a.body), framing(b.body), "the SSE streams carry the same events")
                XCTAssertEqual(framing(b.body), ["retry: 1000", "id: 1", "id: 2", "event: control"])
                XCTAssertTrue(b.body.contains("id: 1\ndata: {\"data\":{\"n\":1},\"id\":1}\n\n"), b.body)
            } else if name == "client.js" || name == "healthz" || name == "readyz" || name.hasPrefix("append")
                        || name == "unknown route" || name == "wrong method"
                        || name == "no credentials" || name == "bad token" || name == "malformed JSON" {
                XCTAssertEqual(a.body, b.body, "\(name): the same body")
            } else {
                XCTAssertEqual(shape(a.body), shape(b.body), "\(name): the same body shape")
            }
        }
        try assertBodyTooLargeAlike(bigFile: big, key: key)
        let log = (try? String(contentsOf: relay.logURL, encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("method=GET path=/healthz protocol=HTTP/2"), "the request log names HTTP/2")
        XCTAssertTrue(log.contains("method=GET path=/healthz protocol=HTTP/1.1"), "and HTTP/1.1")
        let statuses = Dictionary(uniqueKeysWithValues: two.map { ($0.0, $0.1.status) })
        XCTAssertEqual(statuses["create"], 201)
        XCTAssertEqual(statuses["stream"], 200)
        XCTAssertEqual(statuses["head"], 200)
        XCTAssertEqual(statuses["no credentials"], 401)
        XCTAssertEqual(statuses["preflight"], 204)
    }

    /// A body over the limit gets the same 413 over both protocols, answered from its head; over
    /// HTTP/2 the stream is then reset with NO_ERROR (RFC 9113 section 8.1). nghttp, not curl:
    /// curl 7.88 reports its unfinished upload as an error (92) and prints no answer.
    private func assertBodyTooLargeAlike(bigFile: String, key: String) throws {
        let session = try api.newSession(externalId: unique("big"))
        let url = "\(base)\(RelayAPI.channelPath(session, "out"))/append"
        let one = try curl("--http1.1", "POST", url, headers: [key], body: bigFile)
        XCTAssertEqual(one.status, 413)
        guard let nghttp = ChildProcess.findExecutable("nghttp") else { throw HarnessError("nghttp not found (nghttp2-client)") }
        let directory = try makeTemporaryDirectory(prefix: "relay-it-h2big")
        let client = ChildProcess(name: "nghttp", executable: nghttp,
                                  arguments: ["-v", "-H", "authorization: Bearer \(TestEnvironments.devKey)", "-d", String(bigFile.dropFirst()), url],
                                  environment: nil, logURL: directory.appendingPathComponent("nghttp.out"))
        try client.launch()
        defer { _ = client.stop(timeout: 5) }
        XCTAssertTrue(client.waitForExit(timeout: 15))
        let output = client.logTail(maxBytes: 1 << 20)
        XCTAssertTrue(output.contains(":status: 413"), output)
        XCTAssertTrue(output.contains(one.body), "the same answer over HTTP/2:\n\(output)")
        XCTAssertTrue(output.contains("recv RST_STREAM") && output.contains("error_code=NO_ERROR"), output)
        XCTAssertEqual(try api.drain(session, "out").json()["records"]?.arrayValue?.count, 0, "nothing was appended")
    }

    /// Twelve SSE streams over one HTTP/2 connection (nghttp, nghttp2's own client, sends every
    /// URI on one connection; curl 7.88 cannot reuse an h2c connection): each gets its records,
    /// and the relay counted one HTTP/2 connection for them all.
    func testTwelveStreamsShareOneConnectionAndEachGetsItsRecords() throws {
        guard let nghttp = ChildProcess.findExecutable("nghttp") else {
            throw HarnessError("nghttp not found (Debian: apt-get install -y nghttp2-client; scripts/install-deps --test does it)")
        }
        let sessions = try (0..<12).map { _ in try api.newSession(externalId: unique("mux")) }
        let before = try metric("relay_http2_connections_total")
        let directory = try makeTemporaryDirectory(prefix: "relay-it-h2mux")
        let client = ChildProcess(name: "nghttp", executable: nghttp,
                                  arguments: ["-H", "authorization: Bearer \(TestEnvironments.devKey)", "-H", "timeout-seconds: 3"]
                                      + sessions.map { "\(base)\(RelayAPI.channelPath($0, "out"))" },
                                  environment: nil, logURL: directory.appendingPathComponent("nghttp.out"))
        try client.launch()
        defer { _ = client.stop(timeout: 5) }
        try waitUntil(timeout: 10, "all 12 streams to be subscribed") {
            ((try? self.metric("relay_sse_subscribers", label: "channel=\"out\"")) ?? 0) >= 12
        }
        for (index, session) in sessions.enumerated() {
            XCTAssertEqual(try api.append(session, "out", "s\(index)").status, 200)
        }
        try waitUntil(timeout: 10, "every stream's record to arrive") {
            let text = client.logTail(maxBytes: 1 << 20)
            return (0..<12).allSatisfy { text.contains("data: {\"data\":\"s\($0)\",\"id\":1}") }
        }
        XCTAssertTrue(client.waitForExit(timeout: 15), "every stream ended at its Timeout-Seconds")
        XCTAssertEqual(client.exitStatus, 0, client.logTail())
        XCTAssertEqual(try metric("relay_http2_connections_total") - before, 1, "one HTTP/2 connection carried the 12 streams")
    }

    /// An HTTP/2 SSE stream ends at its Timeout-Seconds with END_STREAM (curl exits 0), with
    /// pings meanwhile; a second stream on a draining node ends cleanly too.
    func testIdleTimeoutAndDrainEndHTTP2StreamsCleanly() throws {
        let session = try api.newSession(externalId: unique("idle"))
        let url = "\(base)\(RelayAPI.channelPath(session, "out"))"
        let idle = try CurlStream(["--http2-prior-knowledge", "-sS", "-N", "--max-time", "20", "-H", "Authorization: Bearer \(TestEnvironments.devKey)",
                                   "-H", "Timeout-Seconds: 3", url])
        defer { idle.stop() }
        try idle.waitFor(": ping", timeout: 5)
        XCTAssertEqual(idle.waitForExit(timeout: 10), 0, "ended cleanly: \(idle.errors)")
        XCTAssertGreaterThan(idle.elapsed, 2.5)

        let node = try RelayProcess(redisURL: redis.url, environment: Self.relayEnvironment)
        try node.start()
        defer { node.destroy() }
        let draining = try CurlStream(["--http2-prior-knowledge", "-sS", "-N", "--max-time", "30", "-H", "Authorization: Bearer \(TestEnvironments.devKey)",
                                       "http://127.0.0.1:\(node.port)\(RelayAPI.channelPath(session, "out"))"])
        defer { draining.stop() }
        try draining.waitFor(": ping", timeout: 5)
        node.send(signal: SIGTERM)
        XCTAssertEqual(draining.waitForExit(timeout: 15), 0, "the drain ended the HTTP/2 stream cleanly: \(draining.errors)")
        XCTAssertEqual(node.waitForExit(timeout: 15), 0, "the node exited after its drain")
    }

    /// h2load (nghttp2's load generator) against /healthz and an append route: every request
    /// answered 2xx, and every append stored (the channel holds as many records as were sent).
    func testH2loadAgainstHealthzAndAppend() throws {
        guard let h2load = ChildProcess.findExecutable("h2load") else {
            throw HarnessError("h2load not found (Debian: apt-get install -y nghttp2-client; scripts/install-deps --test does it)")
        }
        let session = try api.newSession(externalId: unique("h2load"))
        let directory = try makeTemporaryDirectory(prefix: "relay-it-h2load")
        let body = directory.appendingPathComponent("body.json")
        try Data(#"{"text":"hello"}"#.utf8).write(to: body)
        func run(_ arguments: [String]) throws -> String {
            let outcome = try ChildProcess.runToEnd(h2load.path, ["-n", "2000", "-c", "4", "-m", "10"] + arguments, timeout: 60)
            return outcome.text
        }
        let health = try run(["\(base)/healthz"])
        XCTAssertTrue(health.contains("2000 succeeded, 0 failed, 0 errored"), health)
        XCTAssertTrue(health.contains("status codes: 2000 2xx"), health)
        let appends = try run(["-d", body.path, "-H", "authorization: Bearer \(TestEnvironments.devKey)",
                               "\(base)\(RelayAPI.channelPath(session, "out"))/append"])
        XCTAssertTrue(appends.contains("2000 succeeded, 0 failed, 0 errored"), appends)
        XCTAssertTrue(appends.contains("status codes: 2000 2xx"), appends)
        let drained = try api.drain(session, "out", query: [("afterEventId", "1990")]).json()
        XCTAssertEqual(drained["records"]?.arrayValue?.last?["id"]?.intValue, 2000, "the 2000th append is the channel's last record")
    }

    // MARK: TLS

    private static var certificate: (cert: String, key: String)?

    /// A self-signed certificate made by scripts/dev-cert (once per run).
    private func certificate() throws -> (cert: String, key: String) {
        if let made = Self.certificate { return made }
        let directory = try makeTemporaryDirectory(prefix: "relay-it-h2cert")
        let script = Haproxy.repository.appendingPathComponent("scripts/dev-cert").path
        _ = try ChildProcess.run("bash", [script, directory.path], timeout: 60)
        let made = (directory.appendingPathComponent("cert.pem").path, directory.appendingPathComponent("key.pem").path)
        Self.certificate = made
        return made
    }

    private func tlsRelay(_ extra: [String: String] = [:]) throws -> RelayProcess {
        let (cert, key) = try certificate()
        var environment = Self.relayEnvironment
        environment["RELAY_TLS_CERT_FILE"] = cert
        environment["RELAY_TLS_KEY_FILE"] = key
        for (name, value) in extra { environment[name] = value }
        let node = try RelayProcess(redisURL: redis.url, environment: environment)
        try node.start()
        return node
    }

    /// With a certificate the relay speaks HTTPS: ALPN gives HTTP/2 to a client that offers it
    /// and HTTP/1.1 to one that does not; SSE streams over both; a plain-HTTP client and a
    /// client that never finishes its handshake are counted and closed, and nobody else notices.
    func testTLSNegotiatesHTTP2OrHTTP11AndClosesUnfinishedHandshakes() throws {
        let node = try tlsRelay(["RELAY_HEAD_TIMEOUT_SECONDS": "1"])
        defer { node.destroy() }
        let tlsBase = "https://127.0.0.1:\(node.port)"
        let session = try api.newSession(externalId: unique("tls"))
        XCTAssertEqual(try api.append(session, "out", "first").status, 200)
        for (option, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
            let health = try curl(option, "GET", "\(tlsBase)/healthz", headers: [], body: nil)
            XCTAssertEqual(health.status, 200)
            XCTAssertEqual(health.version, version, "\(option) over TLS")
            let stream = try curl(option, "GET", "\(tlsBase)\(RelayAPI.channelPath(session, "out"))",
                                  headers: ["Authorization: Bearer \(TestEnvironments.devKey)", "Last-Event-ID: 0", "Timeout-Seconds: 1"])
            XCTAssertEqual(stream.version, version)
            XCTAssertTrue(stream.body.contains("id: 1\ndata: {\"data\":\"first\""), "\(option): \(stream.body)")
        }
        // Plain HTTP at a TLS port, and a connection that sends nothing: both end.
        let plain = try RawConnection(port: node.port)
        try plain.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(plain.isClosed(within: 5), "plain HTTP at the TLS port is refused")
        let silent = try RawConnection(port: node.port)
        XCTAssertTrue(silent.isClosed(within: 5), "an unfinished handshake ends at the head deadline")
        let failures = try waitForValue(timeout: 5, "the handshake failures to be counted") { () -> Double? in
            let value = try self.metric("relay_tls_handshake_failures_total", port: node.port)
            return value >= 2 ? value : nil
        }
        XCTAssertGreaterThanOrEqual(failures, 2)
        XCTAssertEqual(try curl("--http2", "GET", "\(tlsBase)/readyz").status, 200, "others are still served")
    }

    /// Twelve EventSources on one page, straight at the relay over TLS: Chromium puts them on
    /// one HTTP/2 connection and all twelve get their records live, each round before the next.
    func testChromiumHolds12EventSourcesStraightAtTheRelayOverTLS() throws {
        let node = try tlsRelay()
        defer { node.destroy() }
        let tlsBase = "https://127.0.0.1:\(node.port)"
        let count = 12
        let sessions = try (0..<count).map { _ in try EventSourcePage.tokenSession(api) }
        let server = try ReportingPageServer(page: try EventSourcePage.html(sessions, timeoutSeconds: 60))
        defer { server.stop() }
        let connectionsBefore = try metric("relay_http2_connections_total", port: node.port)
        let browser = try EventSourcePage.launchChromium("http://127.0.0.1:\(server.port)/?relay=\(tlsBase)")
        defer { _ = browser.stop(timeout: 10) }
        do {
            try waitUntil(timeout: 60, "all \(count) EventSources to open") {
                guard browser.isRunning else { throw HarnessError("chromium exited:\n\(browser.logTail())") }
                return Set(EventSourcePage.reports(server).filter { $0.kind == "open" }.compactMap(\.stream)).count == count
            }
            for round in 1...2 {
                for (index, session) in sessions.enumerated() {
                    XCTAssertEqual(try api.append(session.id, "out", "s\(index)-r\(round)").status, 200)
                }
                try waitUntil(timeout: 15, "round \(round) to reach all \(count) streams") {
                    let got = EventSourcePage.reports(server).filter { $0.kind == "message" && $0.shown == round }
                    return Set(got.compactMap(\.stream)).count == count
                }
            }
        } catch {
            throw HarnessError("\(error)\nreports:\n\(server.received.joined(separator: "\n"))\nrelay:\n\(node.logTail())")
        }
        for report in EventSourcePage.reports(server) where report.kind == "message" {
            let index = try XCTUnwrap(report.stream)
            XCTAssertEqual(report.data, "s\(index)-r\(report.shown ?? 0)", "stream \(index) got its own records, in order")
        }
        XCTAssertEqual(EventSourcePage.reports(server).filter { $0.kind == "error" }.count, 0, "no stream failed or reconnected")
        XCTAssertEqual(try metric("relay_sse_subscribers", label: "channel=\"out\"", port: node.port), Double(count),
                       "all \(count) live at once on the node")
        // Chromium may open a few connections in parallel before it learns that the origin speaks
        // HTTP/2; more than 6 streams live at once is what HTTP/1.1 could not give it.
        let connections = try metric("relay_http2_connections_total", port: node.port) - connectionsBefore
        XCTAssertGreaterThanOrEqual(connections, 1, "Chromium spoke HTTP/2")
        XCTAssertLessThan(connections, Double(count), "streams shared connections (\(connections) for \(count) streams)")
    }

    // MARK: Metrics

    /// A value from /metrics (plain HTTP, or HTTPS through curl when `port` is a TLS node).
    private func metric(_ name: String, label: String? = nil, port: UInt16? = nil) throws -> Double {
        let text: String
        if let port, port != relay.port {
            let response = try curl("--http1.1", "GET", "https://127.0.0.1:\(port)/metrics", headers: [], body: nil)
            guard response.status == 200 else { throw HarnessError("/metrics over TLS: \(response.status)") }
            text = response.body
        } else {
            let response = try http.request("GET", "/metrics")
            text = String(decoding: response.body, as: UTF8.self)
        }
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
            if let label, !line.contains(label) { continue }
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { return value }
        }
        return 0
    }
}
