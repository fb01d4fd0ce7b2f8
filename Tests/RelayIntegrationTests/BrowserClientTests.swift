// BrowserClientTests.swift: the browser client (/client.js) in headless Chromium against two
// relay nodes on one Redis behind haproxy (config/haproxy.cfg).
//
// - a subscription resumes, losing and repeating nothing, after the node holding its stream is
//   SIGKILLed;
// - a turn-complete control record goes to onControl, and its token is the one the client uses
//   to reconnect once its first (short-lived) token has expired;
// - append() retries with the same X-Part-Id across a node drain (SIGTERM mid-append, with
//   Redis holding writes so the first attempt fails after it may have been applied): the channel
//   holds exactly one record for it;
// - an append whose answer is lost after the relay applied it is retried with the same
//   X-Part-Id and resolves to the first seq with duplicate: true;
// - closing the session ends the subscription ("ended", "session closed") after every record;
// - a loss marker (Redis lost writes) reaches onLost, not onRecord, and the records after it
//   follow in order;
// - /demo (built on the client) shows the records, the connection status and the last id.

import XCTest
import Foundation

final class BrowserClientTests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_DRAIN_GRACE_SECONDS": "1", "RELAY_REQUEST_LOG": "1"]
    }

    private static var extraNode: RelayProcess?
    private static var balancer: Balancer?

    override class func tearDown() {
        balancer?.stop()
        balancer = nil
        extraNode?.destroy()
        extraNode = nil
        super.tearDown()
    }

    /// The two nodes (the class's relay first), every one running, and the balancer.
    private func relaysBehindHaproxy() throws -> (nodes: [RelayProcess], balancer: Balancer) {
        if Self.extraNode == nil {
            let node = try RelayProcess(redisURL: redis.url, environment: Self.relayEnvironment)
            try node.start()
            Self.extraNode = node
        }
        let nodes = [relay!, Self.extraNode!]
        for node in nodes where !node.isRunning { try node.restart() }
        if Self.balancer == nil { Self.balancer = try Balancer(nodes: nodes) }
        let balancer = Self.balancer!
        try balancer.waitUntilReady()
        // Both nodes back in the pool (a node killed by an earlier test needs `rise 2` checks).
        Thread.sleep(forTimeInterval: 1.2)
        return (nodes, balancer)
    }

    /// Whether `node`'s request log (paths only) has a request for `path`.
    private func logged(_ node: RelayProcess, _ method: String, _ path: String) -> Bool {
        (try? String(contentsOf: node.logURL, encoding: .utf8))?.contains("method=\(method) path=\(path) ") == true
    }

    /// A session created through the balancer for a page: its externalId, id and public token.
    private func pageSession(_ prefix: String, with lb: RelayAPI) throws -> (external: String, session: String, token: String) {
        let external = unique(prefix)
        let created = try createSession(externalId: external, with: lb)
        return (external, try XCTUnwrap(created["id"]?.stringValue), try XCTUnwrap(created["publicAccessToken"]?.stringValue))
    }

    /// Restarts `node` if a test stopped it (the class's relay must run when the next test starts).
    private func revive(_ node: RelayProcess?) {
        guard let node, !node.isRunning else { return }
        XCTAssertNoThrow(try node.restart())
    }

    func testSubscriptionResumesWithoutLossAfterItsNodeIsKilled() throws {
        let (nodes, balancer) = try relaysBehindHaproxy()
        let lb = balancer.api()
        let created = try createSession(externalId: unique("kill"), with: lb)
        let session = try XCTUnwrap(created["id"]?.stringValue)
        let token = try XCTUnwrap(created["publicAccessToken"]?.stringValue)
        let page = try BrowserPage(balancer: balancer, script: """
            let previous = 0;
            const sub = relay.subscribe("\(session)", {
              baseUrl: BASE, token: "\(token)", minDelayMs: 100, maxDelayMs: 1000,
              onRecord(data, record) {
                if (record.id !== previous + 1) report("order", { previous, id: record.id });
                previous = record.id;
                report("record", record.id);
              },
              onStatus(status, info) { report("status", status); },
            });
            """)
        defer { page.stop() }
        try page.waitForReports(timeout: 60, "the page to go live") { $0.contains { $0.kind == "status" && $0.value == "live" } }
        for i in 1...5 { XCTAssertEqual(try lb.append(session, "out", #"{"n":\#(i)}"#).status, 200) }
        try page.waitForReports(timeout: 20, "records 1-5") { $0.filter { $0.kind == "record" }.count >= 5 }

        let stream = "/realtime/v1/sessions/\(session)/out"
        let victim = try XCTUnwrap(nodes.first { logged($0, "GET", stream) }, "the node holding the page's stream")
        XCTAssertEqual(nodes.filter { logged($0, "GET", stream) }.count, 1, "one stream so far")
        victim.send(signal: SIGKILL)
        defer { revive(victim) }
        XCTAssertNotNil(victim.waitForExit(timeout: 10), "the node died")
        for i in 6...15 { XCTAssertEqual(try lb.append(session, "out", #"{"n":\#(i)}"#).status, 200, "append \(i)") }

        let reports = try page.waitForReports(timeout: 30, "records 6-15 after the kill") {
            $0.filter { $0.kind == "record" }.count >= 15
        }
        let ids = reports.filter { $0.kind == "record" }.compactMap(\.value.intValue)
        XCTAssertEqual(ids.sorted(), Array(1...15), "every record once")
        XCTAssertEqual(try page.values("order"), [], "in order, no gap, no repeat")
        let statuses = reports.filter { $0.kind == "status" }.compactMap(\.value.stringValue)
        XCTAssertEqual(statuses.first, "connecting")
        XCTAssertTrue(statuses.contains("reconnecting"), "\(statuses)")
        XCTAssertEqual(statuses.last, "live", "\(statuses)")
        let survivor = try XCTUnwrap(nodes.first { $0 !== victim })
        XCTAssertTrue(logged(survivor, "GET", stream), "the page resumed on the surviving node")
    }

    func testTurnCompleteGoesToOnControlAndItsTokenIsUsedToReconnect() throws {
        let (_, balancer) = try relaysBehindHaproxy()
        let lb = balancer.api()
        let external = unique("token")
        let session = try XCTUnwrap(try createSession(externalId: external, with: lb)["id"]?.stringValue)
        // A first token that expires soon; the relay ends the stream at its exp.
        let expiry = Date().addingTimeInterval(15)
        let shortToken = try devToken(["read:sessions:\(external)", "write:sessions:\(external)"], exp: expiry)
        let page = try BrowserPage(balancer: balancer, script: """
            const sub = relay.subscribe("\(external)", {
              baseUrl: BASE, token: "\(shortToken)", minDelayMs: 100, maxDelayMs: 1000,
              onRecord(data, record) { report("record", { id: record.id, data }); },
              onControl(control, record) {
                report("control", { subtype: control.subtype, id: control.id, token: control.headers["public-access-token"] });
              },
              onStatus(status) { report("status", { status, token: sub && sub.token }); },
            });
            """)
        defer { page.stop() }
        try page.waitForReports(timeout: 60, "the page to go live") { $0.contains { $0.kind == "status" && $0.value["status"] == "live" } }
        XCTAssertTrue(Date() < expiry.addingTimeInterval(-3), "the page went live too late for this test to mean anything")
        XCTAssertEqual(try page.values("status").last?["token"]?.stringValue, shortToken)

        XCTAssertEqual(try lb.control(session, ["subtype": "turn-complete"]).status, 200)
        let drained = try lb.drain(session, "out").json()
        let headers = try XCTUnwrap(drained["records"]?[0]?["headers"]?.arrayValue)
        let fresh = try XCTUnwrap(headers.first { $0[0] == "public-access-token" }?[1]?.stringValue)
        XCTAssertNotEqual(fresh, shortToken)
        try page.waitForReports(timeout: 10, "the control record") { $0.contains { $0.kind == "control" } }
        let control = try XCTUnwrap(try page.values("control").first)
        XCTAssertEqual(control["subtype"], "turn-complete")
        XCTAssertEqual(control["id"]?.intValue, 1)
        XCTAssertEqual(control["token"]?.stringValue, fresh)
        XCTAssertEqual(try page.values("record").count, 0, "a control record is not a data record")

        // Past the first token's exp: the relay ends the stream (": token expired") and refuses
        // that token; the page must come back with the fresh one and get what follows.
        try waitUntil(timeout: 30, "the first token to expire") { Date() > expiry.addingTimeInterval(1.5) }
        let stale = try RelayAPI(port: balancer.port, bearer: shortToken).drain(external, "out")
        XCTAssertEqual(stale.status, 401, "the first token is expired")
        XCTAssertEqual(try lb.append(session, "out", #"{"text":"after expiry"}"#).status, 200)
        let reports = try page.waitForReports(timeout: 30, "the record appended after the first token expired") {
            $0.contains { $0.kind == "record" }
        }
        let record = try XCTUnwrap(reports.first { $0.kind == "record" }?.value)
        XCTAssertEqual(record["id"]?.intValue, 2)
        XCTAssertEqual(record["data"]?["text"], "after expiry")
        let statuses = reports.filter { $0.kind == "status" }.map(\.value)
        XCTAssertTrue(statuses.contains { $0["status"] == "reconnecting" }, "the stream ended at the token's exp: \(statuses)")
        XCTAssertEqual(statuses.last?["status"], "live")
        XCTAssertEqual(statuses.last?["token"]?.stringValue, fresh, "reconnected with the turn-complete's token")
    }

    func testAppendRetriesAcrossANodeDrainWithoutADuplicate() throws {
        let (nodes, balancer) = try relaysBehindHaproxy()
        let lb = balancer.api()
        let (external, session, token) = try pageSession("drain", with: lb)
        let marker = unique("message")
        // On the first record of .out ("go"), the page stops listening and, a moment later,
        // appends one message to .in with part id "the-part".
        let page = try BrowserPage(balancer: balancer, script: """
            const sub = relay.subscribe("\(external)", {
              baseUrl: BASE, token: "\(token)",
              onStatus(status) { if (status === "live") report("live"); },
              onRecord() {
                sub.close();
                setTimeout(async () => {
                  const started = Date.now();
                  try {
                    const result = await relay.append("\(external)", "in", { type: "user-message", text: "\(marker)" },
                      { baseUrl: BASE, token: "\(token)", partId: "the-part", retries: 30, minDelayMs: 200, maxDelayMs: 1500 });
                    report("appended", { ...result, ms: Date.now() - started });
                  } catch (error) {
                    report("append-failed", { status: error.status, message: error.message, attempts: error.attempts });
                  }
                }, 700);
              },
            });
            """)
        defer { page.stop() }
        try page.waitForReports(timeout: 60, "the page to go live") { $0.contains { $0.kind == "live" } }

        // "go", then Redis holds every write for 5 s: the page's append reaches a node and waits
        // there (the relay gives up on Redis after 2 s and answers 503; the held write may still
        // be applied when the pause ends).
        let redisClient = try redis.client()
        defer { redisClient.close() }
        XCTAssertEqual(try lb.append(session, "out", "go").status, 200)
        _ = try redisClient.command("CLIENT", "PAUSE", "5000", "WRITE")
        defer { _ = try? redisClient.command("CLIENT", "UNPAUSE") }
        let appendPath = "/realtime/v1/sessions/\(external)/in/append"
        let victim = try waitForValue(timeout: 5, "the page's append to reach a node") {
            nodes.first { logged($0, "POST", appendPath) }
        }
        // Drain that node mid-append.
        victim.send(signal: SIGTERM)
        defer { revive(victim) }
        XCTAssertEqual(victim.waitForExit(timeout: 20), 0, "the drained node exits 0")

        let reports = try page.waitForReports(timeout: 60, "the append to settle") {
            $0.contains { $0.kind == "appended" || $0.kind == "append-failed" }
        }
        let failure = reports.first { $0.kind == "append-failed" }?.value
        XCTAssertNil(failure, "append failed: \(failure ?? .null)")
        let result = try XCTUnwrap(reports.first { $0.kind == "appended" }?.value)
        XCTAssertGreaterThan(result["attempts"]?.intValue ?? 0, 1, "the append was retried: \(result)")
        XCTAssertEqual(result["partId"], "the-part")

        let drained = try lb.drain(session, "in").json()
        let mine = try XCTUnwrap(drained["records"]?.arrayValue).filter { $0["data"]?["text"]?.stringValue == marker }
        XCTAssertEqual(mine.count, 1, "exactly one record for the part id: \(drained)")
        XCTAssertEqual(mine.first?["id"], result["seq"], "the client got the seq of that record")
        print("append across the drain: \(result)")
    }

    func testAppendWhoseAnswerWasLostResolvesToTheFirstSeqAsADuplicate() throws {
        let (_, balancer) = try relaysBehindHaproxy()
        let lb = balancer.api()
        let (external, session, token) = try pageSession("lost", with: lb)
        // The first answer is dropped after the relay has applied the append (as if the
        // connection broke on the way back): the client cannot know, and must retry safely.
        let page = try BrowserPage(balancer: balancer, script: """
            let calls = 0;
            const lossy = async (url, init) => {
              const response = await fetch(url, init);
              calls += 1;
              if (calls === 1) { await response.text(); throw new TypeError("Failed to fetch (answer lost)"); }
              return response;
            };
            relay.append("\(external)", "in", { text: "once" }, { baseUrl: BASE, token: "\(token)", fetch: lossy, minDelayMs: 100 })
              .then((result) => report("appended", result), (error) => report("append-failed", error.message));
            """)
        defer { page.stop() }
        let reports = try page.waitForReports(timeout: 60, "the append to settle") {
            $0.contains { $0.kind == "appended" || $0.kind == "append-failed" }
        }
        let result = try XCTUnwrap(reports.first { $0.kind == "appended" }?.value, "\(reports)")
        XCTAssertEqual(result["attempts"]?.intValue, 2)
        XCTAssertEqual(result["duplicate"], true, "the retry was recognised by its X-Part-Id")
        let records = try XCTUnwrap(try lb.drain(session, "in").json()["records"]?.arrayValue)
        XCTAssertEqual(records.filter { $0["data"]?["text"] == "once" }.count, 1, "one record: \(records)")
        XCTAssertEqual(records.first { $0["data"]?["text"] == "once" }?["id"], result["seq"])
    }

    func testDemoPageShowsStatusAndLastId() throws {
        let (_, balancer) = try relaysBehindHaproxy()
        let lb = balancer.api()
        let (external, session, token) = try pageSession("demo", with: lb)
        XCTAssertEqual(try lb.control(session, ["subtype": "turn-complete"]).status, 200)
        XCTAssertEqual(try lb.append(session, "out", #"{"type":"text","text":"first answer"}"#).status, 200)
        guard let chromium = ChildProcess.findExecutable("chromium") else { throw HarnessError("chromium not found") }
        let directory = try makeTemporaryDirectory(prefix: "relay-it-demo")
        let output = directory.appendingPathComponent("dom.html")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        let browser = Process()
        browser.executableURL = chromium
        browser.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(directory.path)/profile",
                             "--virtual-time-budget=10000", "--dump-dom",
                             "\(balancer.baseURL)/demo?session=\(external)&token=\(token)&once=1"]
        browser.standardOutput = try FileHandle(forWritingTo: output)
        browser.standardError = FileHandle.nullDevice
        try browser.run()
        defer { if browser.isRunning { browser.terminate() } }
        try waitUntil(timeout: 60, "chromium to print the page") { !browser.isRunning }
        let dom = try String(contentsOf: output, encoding: .utf8)
        XCTAssertTrue(dom.contains(#"<li class="control">turn complete</li>"#), dom)
        XCTAssertTrue(dom.contains("<li>first answer</li>"), dom)
        XCTAssertTrue(dom.contains(#"<b id="last-id">2</b>"#), "the last id: \(dom)")
        XCTAssertTrue(dom.contains(#"<b id="status" data-status="ended">ended</b>"#), "the status (once=1 closes): \(dom)")
    }

    func testClosingTheSessionEndsTheSubscriptionAfterEveryRecord() throws {
        let (_, balancer) = try relaysBehindHaproxy()
        let lb = balancer.api()
        let (external, session, token) = try pageSession("close", with: lb)
        let page = try BrowserPage(balancer: balancer, script: """
            relay.subscribe("\(external)", {
              baseUrl: BASE, token: "\(token)", minDelayMs: 100,
              onRecord(data, record) { report("record", record.id); },
              onStatus(status, info) { report("status", { status, reason: info.reason || null }); },
            });
            """)
        defer { page.stop() }
        try page.waitForReports(timeout: 60, "the page to go live") { $0.contains { $0.kind == "status" && $0.value["status"] == "live" } }
        for i in 1...3 { XCTAssertEqual(try lb.append(session, "out", "r\(i)").status, 200) }
        XCTAssertEqual(try lb.closeSession(session).status, 200)
        let reports = try page.waitForReports(timeout: 30, "the subscription to end") {
            $0.contains { $0.kind == "status" && $0.value["status"] == "ended" }
        }
        XCTAssertEqual(reports.filter { $0.kind == "record" }.compactMap(\.value.intValue).sorted(), [1, 2, 3])
        let ended = try XCTUnwrap(reports.last { $0.kind == "status" }?.value)
        XCTAssertEqual(ended["status"], "ended")
        XCTAssertEqual(ended["reason"], "session closed")
    }

    /// A generation change as a failover makes it (the channel's stored replication ID is not
    /// the primary's): the next append writes a loss marker. The client reports it through
    /// onLost, never as a record, and delivers the records after it in order.
    func testALossMarkerGoesToOnLostAndTheRecordsAfterItFollow() throws {
        let (_, balancer) = try relaysBehindHaproxy()
        let lb = balancer.api()
        let (external, session, token) = try pageSession("lost", with: lb)
        // Reports are appended concurrently, so each carries the page's own order (`step`).
        let page = try BrowserPage(balancer: balancer, script: """
            let step = 0;
            relay.subscribe("\(external)", {
              baseUrl: BASE, token: "\(token)", minDelayMs: 100,
              onRecord(data, record) { report("record", { id: record.id, data, step: ++step }); },
              onLost(range) { report("lost", { ...range, step: ++step }); },
              onStatus(status) { report("status", status); },
            });
            """)
        defer { page.stop() }
        try page.waitForReports(timeout: 60, "the page to go live") { $0.contains { $0.kind == "status" && $0.value == "live" } }
        for i in 1...3 { XCTAssertEqual(try lb.append(session, "out", "r\(i)").status, 200) }
        try page.waitForReports(timeout: 20, "records 1-3") { $0.filter { $0.kind == "record" }.count >= 3 }
        let client = try redis.client()
        try client.checked("HSET", "relay:{s:\(session)}:meta", "gen:out", "a-replication-id-from-before-a-failover")
        let first = try lb.append(session, "out", "after 1")
        XCTAssertEqual(first.status, 200)
        let seq = try XCTUnwrap(try first.json()["seq"]?.intValue)
        XCTAssertGreaterThan(seq, 3 + 1_000_000, "a new block of seqs")
        XCTAssertEqual(try lb.append(session, "out", "after 2").status, 200)
        let reports = try page.waitForReports(timeout: 20, "the loss and two more records") {
            $0.filter { $0.kind == "record" }.count >= 5
        }
        let events = reports.filter { $0.kind != "status" }.sorted { ($0.value["step"]?.intValue ?? 0) < ($1.value["step"]?.intValue ?? 0) }
        XCTAssertEqual(events.map(\.kind), ["record", "record", "record", "lost", "record", "record"], "the loss comes where it happened")
        let lost = try XCTUnwrap(events.first { $0.kind == "lost" }?.value)
        XCTAssertEqual(lost["after"]?.intValue, 3)
        XCTAssertEqual(lost["before"]?.intValue, seq - 1, "the marker's own seq: the record after it is the append's")
        let records = events.filter { $0.kind == "record" }.map(\.value)
        XCTAssertEqual(records.compactMap { $0["id"]?.intValue }, [1, 2, 3, seq, seq + 1])
        XCTAssertEqual(records.compactMap { $0["data"]?.stringValue }, ["r1", "r2", "r3", "after 1", "after 2"])
    }
}
