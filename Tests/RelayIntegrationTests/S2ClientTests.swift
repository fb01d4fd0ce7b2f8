// S2ClientTests.swift: S2's own Python client (PyPI s2-sdk 0.13.0: HTTP/2 h2c, protobuf, S2S
// append sessions) against the relay's S2 records API, on two relay nodes sharing one Redis (a
// Redis Cluster with RELAY_TEST_REDIS=cluster). The client runs as
// Tests/Interop/s2_client_check.py in the venv that `scripts/install-deps --test` makes
// (.build-tools/s2-venv; RELAY_S2_PYTHON names another python). Without it the tests skip,
// except under CI=true, where they fail: CI installs it, so its absence there is a fault.
//
// - the PUT handshake on node A hands out credentials the client uses on node B: unary appends,
//   an append session of 50 batches, reads, a trim record, match_seq_num; node A's drain and
//   SSE streams (documented and v2) show the same records with the same seqs;
// - records appended over HTTP on node A read back through the client on node B with their
//   seqs, and both writers draw from one sequence;
// - a channel's S2 token writes no other stream (403 to the client and to a raw request).

import XCTest
import Foundation

final class S2ClientTests: RelayTestCase {
    private static var nodeB: RelayProcess?

    override class func tearDown() {
        nodeB?.destroy()
        nodeB = nil
        super.tearDown()
    }

    /// The second node, on the class's Redis, started once.
    private func secondNode() throws -> RelayProcess {
        if Self.nodeB == nil {
            let node = try RelayProcess(redisURL: redis.url)
            try node.start()
            Self.nodeB = node
        }
        let node = Self.nodeB!
        if !node.isRunning { try node.restart() }
        return node
    }

    // MARK: The Python client

    private static let sdkVersion = "0.13.0"
    private var script: URL { repositoryRoot.appendingPathComponent("Tests/Interop/s2_client_check.py") }

    /// The venv's python with s2-sdk 0.13.0; skips (fails under CI=true) when it is missing.
    private func s2Python() throws -> String {
        if let python = Self.python { return python }
        let environment = ProcessInfo.processInfo.environment
        let python = environment["RELAY_S2_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
            ?? repositoryRoot.appendingPathComponent(".build-tools/s2-venv/bin/python").path
        func missing(_ why: String) -> Error {
            let message = "S2's Python client: \(why) (scripts/install-deps --test installs it)"
            if environment["CI"] == "true" { return HarnessError(message + "; CI=true, so this is a failure, not a skip") }
            return XCTSkip(message)
        }
        guard FileManager.default.isExecutableFile(atPath: python) else { throw missing("no \(python)") }
        let version = try ChildProcess.runToEnd(python, ["-c", "import importlib.metadata as m; print(m.version('s2-sdk'))"],
                                                timeout: 30)
        let found = version.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard version.status == 0, found == Self.sdkVersion else {
            throw missing("\(python) has s2-sdk \(found.isEmpty ? "missing: " + version.errorText : found), not \(Self.sdkVersion)")
        }
        Self.python = python
        return python
    }

    private static var python: String?

    /// Skips (or under CI=true fails) before any work when the client is missing.
    override func setUpWithError() throws {
        try super.setUpWithError()
        _ = try s2Python()
    }

    /// Runs the script in `mode` against `node` (the client's endpoint is the node's origin: the
    /// 0.13 client takes no path). Returns its JSON summary; a failed run fails with its stderr.
    private func runClient(_ mode: String, on node: RelayProcess, _ credentials: S2Credentials, stream: String? = nil,
                           extra: [String] = []) throws -> JSON {
        let python = try s2Python()
        let arguments = [script.path, mode, "--endpoint", "http://127.0.0.1:\(node.port)", "--basin", credentials.basin,
                         "--stream", stream ?? credentials.stream, "--token", credentials.token,
                         "--deadline", "60"] + extra
        let outcome = try ChildProcess.runToEnd(python, arguments, timeout: 90)
        guard outcome.status == 0 else {
            throw HarnessError("s2_client_check.py \(mode) against node :\(node.port) exited \(outcome.status):\n"
                + outcome.errorText + "\nstdout: " + outcome.text + "\nnode log:\n" + node.logTail(maxBytes: 4_096))
        }
        do {
            return try JSON(parsing: outcome.output)
        } catch {
            throw HarnessError("s2_client_check.py \(mode): stdout is not JSON: \(outcome.text.prefix(500))")
        }
    }

    // MARK: The handshake

    struct S2Credentials {
        var token: String
        var basin: String
        var stream: String
        var endpoint: String
        var flushIntervalMs: String?
    }

    /// PUT /realtime/v1/sessions/{session}/{io} with the secret key on `node`: 202
    /// {"version":"v2"} and the X-S2-* headers.
    private func handshake(_ session: String, _ io: String = "out", on node: RelayProcess) throws -> S2Credentials {
        let api = RelayAPI(port: node.port, bearer: TestEnvironments.devKey)
        let response = try api.http.request("PUT", RelayAPI.channelPath(session, io))
        guard response.status == 202 else { throw HarnessError("PUT handshake for \(session)/\(io): \(response)") }
        XCTAssertEqual(try response.json()["version"], "v2", "\(response)")
        let headers = response.headers
        let credentials = S2Credentials(
            token: try XCTUnwrap(headers["X-S2-Access-Token"], "X-S2-Access-Token in \(headers)"),
            basin: try XCTUnwrap(headers["X-S2-Basin"], "X-S2-Basin in \(headers)"),
            stream: try XCTUnwrap(headers["X-S2-Stream-Name"], "X-S2-Stream-Name in \(headers)"),
            endpoint: try XCTUnwrap(headers["X-S2-Endpoint"], "X-S2-Endpoint in \(headers)"),
            flushIntervalMs: headers["X-S2-Flush-Interval-Ms"])
        XCTAssertFalse(credentials.token.isEmpty)
        XCTAssertEqual(credentials.stream, "sessions/\(session)/\(io)")
        XCTAssertEqual(credentials.endpoint, "http://127.0.0.1:\(node.port)/s2/v1", "the node as the request reached it")
        XCTAssertNotNil(credentials.flushIntervalMs.flatMap(Int.init), "X-S2-Flush-Interval-Ms in \(headers)")
        return credentials
    }

    // MARK: Reading the relay's side

    /// Every record of the documented drain on `node` (paged), oldest first.
    private func drainAll(_ session: String, _ io: String = "out", on node: RelayProcess) throws -> [JSON] {
        let api = RelayAPI(port: node.port, bearer: TestEnvironments.devKey)
        var records: [JSON] = []
        var after = 0
        for _ in 0..<20 {
            let response = try api.drain(session, io, query: [("afterEventId", String(after))])
            guard response.status == 200 else { throw HarnessError("drain \(session)/\(io) after \(after): \(response)") }
            let body = try response.json()
            let page = try XCTUnwrap(body["records"]?.arrayValue, "\(response)")
            records += page
            guard body["hasMore"]?.boolValue == true, let last = page.last?["seqNum"]?.intValue else { return records }
            after = last
        }
        throw HarnessError("drain \(session)/\(io): more than 20 pages")
    }

    /// Events of `connection` (data-bearing, pings skipped) until one with id `lastId`.
    private func events(_ connection: SSEConnection, through lastId: Int, within seconds: TimeInterval) throws -> [SSEEvent] {
        let deadline = Deadline.after(seconds)
        var events: [SSEEvent] = []
        while true {
            guard let event = try connection.nextDataEvent(timeout: deadline.remainingSeconds()) else {
                throw HarnessError("SSE ended before id \(lastId); got \(events.suffix(3))")
            }
            events.append(event)
            if let id = event.id.flatMap({ Int($0.split(separator: ",").first ?? "") }), id >= lastId { return events }
        }
    }

    /// The documented record's data for an S2 body: the envelope's data, else the body as a string.
    private func documentedData(ofS2Body body: String) -> JSON {
        if let value = try? JSON(parsing: body), let object = value.objectValue, object.count == 2,
           let data = object["data"], object["id"]?.stringValue != nil {
            return data
        }
        return .string(body)
    }

    private func seq(_ record: JSON) throws -> Int { try XCTUnwrap(record["seq"]?.intValue, "\(record)") }

    // MARK: Tests

    func testPythonWritesOnNodeBAndNodeAShowsTheSameRecordsWithTheSameSeqs() throws {
        let nodeB = try secondNode()
        let session = try api.newSession(externalId: unique("s2py"))
        let credentials = try handshake(session, on: relay)
        // Live first: a stream on node A, open before the client writes through node B.
        let live = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "60")])
        defer { live.close() }
        XCTAssertEqual(live.status, 200)

        let summary = try runClient("write", on: nodeB, credentials)
        let written = try XCTUnwrap(summary["written"]?.arrayValue, "\(summary)")
        let matched = try XCTUnwrap(summary["matched"], "\(summary)")
        let trim = try XCTUnwrap(summary["trim"], "\(summary)")
        XCTAssertEqual(summary["initialTail"]?.intValue, 1, "a new channel's tail: its first seq is 1")
        XCTAssertEqual(written.count, 3 + (summary["session"]?["batches"]?.arrayValue ?? []).compactMap(\.intValue).reduce(0, +))
        XCTAssertEqual(summary["mismatch"]?["expected"]?.intValue, try XCTUnwrap(trim["end"]?.intValue))
        // The data records, as the relay's documented format must show them: seq -> (data, headers).
        var expected: [(seq: Int, data: JSON, headers: JSON?)] = try written.map { record in
            let headers = try XCTUnwrap(record["headers"]?.arrayValue)
            return (try seq(record), documentedData(ofS2Body: try XCTUnwrap(record["body"]?.stringValue)),
                    headers.isEmpty ? nil : .array(headers))
        }
        expected.append((try XCTUnwrap(matched["start"]?.intValue), .string("matched"), nil))
        XCTAssertEqual(expected.map(\.seq), Array(1...written.count) + [try XCTUnwrap(matched["start"]?.intValue)])
        let trimSeq = try XCTUnwrap(trim["start"]?.intValue)
        XCTAssertEqual(trimSeq, written.count + 1, "the trim record takes the seq after the data records")

        // Node A's drain: the same seqs and data, the trim record left out, nothing of the refused append.
        let drained = try drainAll(session, on: relay)
        XCTAssertEqual(drained.compactMap { $0["seqNum"]?.intValue }, expected.map(\.seq),
                       "drain seqs (the trim record \(trimSeq) is not shown)")
        for (record, want) in zip(drained, expected) {
            XCTAssertEqual(record["id"]?.intValue, want.seq, "\(record)")
            XCTAssertEqual(record["data"], want.data, "drain record \(want.seq)")
            XCTAssertEqual(record["headers"], want.headers, "drain record \(want.seq) headers")
        }
        XCTAssertFalse(drained.contains { $0["data"] == "must not be written" })

        // Node A's live stream (documented format): the same records, in order, as they came.
        let liveEvents = try events(live, through: expected.last!.seq, within: 20)
        XCTAssertEqual(liveEvents.compactMap { $0.id.flatMap(Int.init) }, expected.map(\.seq))
        for (event, want) in zip(liveEvents, expected) {
            let record = try event.json()
            XCTAssertEqual(record["id"]?.intValue, want.seq)
            XCTAssertEqual(record["data"], want.data, "SSE record \(want.seq)")
        }

        // Node A's v2 stream (S2's own framing): the bodies byte for byte, the trim record too.
        let v2 = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "5")], query: [("format", "v2")])
        defer { v2.close() }
        XCTAssertEqual(v2.status, 200)
        var s2Records: [JSON] = []
        for event in try events(v2, through: expected.last!.seq, within: 20) where event.event == "batch" {
            s2Records += try XCTUnwrap(event.json()["records"]?.arrayValue, "\(event)")
        }
        let pythonRead = try XCTUnwrap(summary["read"]?.arrayValue)
        XCTAssertEqual(summary["readSession"]?.intValue, written.count, "a read session gave every record written")
        XCTAssertEqual(s2Records.compactMap { $0["seq_num"]?.intValue }, Array(1...(trimSeq + 1)))
        for record in pythonRead {
            let seq = try seq(record)
            guard let v2Record = s2Records.first(where: { $0["seq_num"]?.intValue == seq }) else { continue }
            XCTAssertEqual(v2Record["body"], record["body"], "v2 body of \(seq) = what the client read")
            let headers = record["headers"]?.arrayValue ?? []
            XCTAssertEqual(v2Record["headers"], headers.isEmpty ? nil : .array(headers), "v2 headers of \(seq)")
        }
        XCTAssertEqual(s2Records.first { $0["seq_num"]?.intValue == trimSeq }?["headers"], [["", "trim"]])

        // The handed-out endpoint itself (/s2/v1 on node A) answers with the token: the tail.
        let tail = try HTTPClient(port: relay.port).request(
            "GET", "/s2/v1/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records/tail",
            headers: [("Authorization", "Bearer \(credentials.token)"), ("S2-Basin", credentials.basin)])
        XCTAssertEqual(tail.status, 200, "\(tail)")
        XCTAssertEqual(try tail.json()["tail"]?["seq_num"]?.intValue, summary["finalTail"]?.intValue, "\(tail)")
    }

    func testRecordsAppendedOverHTTPOnNodeAReadThroughThePythonClientOnNodeB() throws {
        let nodeB = try secondNode()
        let session = try api.newSession(externalId: unique("s2py-in"))
        // Three appends on node A before any S2 call: a JSON body, text with an X-Part-Id, text.
        let bodies: [(body: String, partId: String?)] = [(#"{"kind":"message","payload":{"n":1}}"#, nil),
                                                         ("plain text", "part-\(UUID().uuidString)"), ("third", nil)]
        var seqs: [Int] = []
        for (body, partId) in bodies {
            let response = try api.append(session, "out", body, partId: partId)
            XCTAssertEqual(response.status, 200, "\(response)")
            seqs.append(try XCTUnwrap(try response.json()["seq"]?.intValue, "\(response)"))
        }
        XCTAssertEqual(seqs, [1, 2, 3])
        let credentials = try handshake(session, on: relay)

        let read = try runClient("read", on: nodeB, credentials)
        let records = try XCTUnwrap(read["records"]?.arrayValue, "\(read)")
        XCTAssertEqual(try records.map(seq), seqs, "the client reads from seq_num 0 what the relay numbered 1, 2, 3")
        XCTAssertEqual(read["tail"]?.intValue, 4, "\(read)")
        for (record, (appended, seq)) in zip(records, zip(bodies, seqs)) {
            // An appended record reads as the Trigger.dev envelope: its body as a string, its X-Part-Id (else its seq) as the id.
            let body = try JSON(parsing: try XCTUnwrap(record["body"]?.stringValue, "\(record)"))
            XCTAssertEqual(body["data"], .string(appended.body), "\(record)")
            XCTAssertEqual(body["id"], .string(appended.partId ?? String(seq)), "\(record)")
            XCTAssertEqual(record["headers"]?.arrayValue ?? [], [], "\(record)")
        }

        // One sequence for both writers: HTTP after S2 reads, S2 from where HTTP left off.
        let fourth = try api.append(session, "out", "fourth")
        XCTAssertEqual(try fourth.json()["seq"]?.intValue, 4, "\(fourth)")
        let fromFour = try runClient("read", on: nodeB, credentials, extra: ["--start", "4"])
        XCTAssertEqual(try (fromFour["records"]?.arrayValue ?? []).map(seq), [4], "\(fromFour)")
        let write = try runClient("write", on: nodeB, credentials)
        XCTAssertEqual(write["initialTail"]?.intValue, 5, "\(write)")
        XCTAssertEqual(write["unary"]?["start"]?.intValue, 5, "\(write)")
        let finalTail = try XCTUnwrap(write["finalTail"]?.intValue, "\(write)")
        let after = try api.append(session, "out", "after the client")
        XCTAssertEqual(try after.json()["seq"]?.intValue, finalTail, "an HTTP append after the client takes the next seq")
        let drained = try drainAll(session, on: relay)
        XCTAssertEqual(drained.last?["seqNum"]?.intValue, finalTail)
        XCTAssertEqual(drained.last?["data"], "after the client")
    }

    func testAChannelTokenWritesNoOtherStream() throws {
        let nodeB = try secondNode()
        let mine = try api.newSession(externalId: unique("s2py-mine"))
        let other = try api.newSession(externalId: unique("s2py-other"))
        let credentials = try handshake(mine, on: relay)
        let otherStream = try handshake(other, on: relay).stream

        // The client, with my token, on the other session's stream: 403 for a unary append and for a session.
        let denied = try runClient("denied", on: nodeB, credentials, stream: otherStream)
        XCTAssertEqual(denied["unary"]?["status"]?.intValue, 403, "\(denied)")
        XCTAssertEqual(denied["session"]?["status"]?.intValue, 403, "\(denied)")
        XCTAssertEqual(denied["unary"]?["code"], "permission_denied", "\(denied)")

        // Raw JSON appends on node A: my stream yes; the other session's, and my session's .in, no.
        func append(_ stream: String) throws -> HTTPResponse {
            try HTTPClient(port: relay.port).request(
                "POST", "/v1/streams/\(HTTPClient.escapePathSegment(stream))/records",
                headers: [("Authorization", "Bearer \(credentials.token)"), ("S2-Basin", credentials.basin)],
                json: ["records": [["body": "raw"]]])
        }
        let ok = try append(credentials.stream)
        XCTAssertEqual(ok.status, 200, "\(ok)")
        XCTAssertEqual(try ok.json()["start"]?["seq_num"]?.intValue, 1, "\(ok)")
        for stream in [otherStream, "sessions/\(mine)/in"] {
            let refused = try append(stream)
            XCTAssertEqual(refused.status, 403, "\(stream): \(refused)")
            XCTAssertEqual(try? refused.json()["code"], "permission_denied", "\(stream): \(refused)")
        }
        XCTAssertEqual(try drainAll(other, on: relay).count, 0, "nothing reached the other session")
        XCTAssertEqual(try drainAll(mine, "in", on: relay).count, 0, "nothing reached my .in")
        XCTAssertEqual(try drainAll(mine, on: nodeB).compactMap { $0["data"]?.stringValue }, ["raw"])
    }

    /// The short bounded run of Benchmarks/scenarios/s2-append.sh's driver (s2_append.py):
    /// pipelined append sessions and unary appends of envelopes; every record lands, in order,
    /// once, and the documented drain shows the writer's chunks.
    func testTheBenchmarkDriverAppendsEveryRecordOnceInOrder() throws {
        let python = try s2Python()
        let session = try api.newSession(externalId: unique("s2py-bench"))
        let credentials = try handshake(session, on: relay)
        let script = repositoryRoot.appendingPathComponent("Benchmarks/scenarios/s2_append.py").path
        var expected = 0
        for (batches, perBatch, mode) in [(100, 10, "session"), (20, 1, "unary")] {
            let outcome = try ChildProcess.runToEnd(python, [script, "http://127.0.0.1:\(relay.port)", credentials.basin,
                                                             credentials.stream, credentials.token, String(batches), String(perBatch), mode],
                                                    timeout: 90)
            guard outcome.status == 0, let line = outcome.text.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }) else {
                return XCTFail("s2_append.py \(mode): \(outcome.text) \(outcome.errorText)")
            }
            XCTAssertEqual(try JSON(parsing: String(line.dropFirst(7)))["records"]?.intValue, batches * perBatch)
            expected += batches * perBatch
        }
        let drained = try drainAll(session, on: relay)
        XCTAssertEqual(drained.count, expected)
        XCTAssertEqual(drained.map { $0["seqNum"]?.intValue ?? 0 }, Array(1...expected), "consecutive seqs, none twice")
        XCTAssertEqual(drained.first?["data"]?["delta"]?.stringValue, "tok 0.0", "the envelope's chunk is the record's data")
        XCTAssertEqual(drained.last?["data"]?["delta"]?.stringValue, "tok 19.0")
    }
}
