// TriggerWireTests.swift: docs/trigger-sdk.md against two relay nodes sharing one Redis: the v2
// stream format read by a client that parses it as the Trigger.dev SDK does (V2Reader), the
// same records in both formats, resume by seq_num, X-Peek-Settled, the v2 environment setting
// and its drains, the PUT handshake and the scope of the S2 token it hands out, CORS.
// (The S2 client itself, S2's Python SDK, is in S2ClientTests.)

import XCTest
import Foundation
import RelayCore

/// Reads a v2 stream exactly as the Trigger.dev SDK (4.5.x) does: only `event: batch` counts;
/// each record moves the cursor (its seq_num); command records (first header name empty) are
/// passed over; a body is JSON `{data, id}` and a record whose id was seen is dropped; control
/// records carry their fields in headers; `data: [DONE]` ends the stream normally.
struct V2Reader {
    struct Part: Equatable {
        var seq: Int
        var timestamp: Int
        var data: JSON?
        var headers: [[String]]
    }

    var lastSeq: Int?
    var seenIds = Set<String>()
    var done = false
    var tails: [Int] = []

    /// The parts of the next batch (empty for pings and other events); nil when the stream ended.
    mutating func next(_ stream: SSEConnection, timeout: TimeInterval = 10) throws -> [Part]? {
        guard !done, let event = try stream.nextEvent(timeout: timeout) else { return nil }
        if event.event == nil && event.data == "[DONE]" {
            done = true
            return nil
        }
        guard event.event == "batch", let data = event.data else { return [] }
        let batch = try JSON(parsing: data)
        if let tail = batch["tail"]?["seq_num"]?.intValue { tails.append(tail) }
        var parts: [Part] = []
        for record in batch["records"]?.arrayValue ?? [] {
            guard let seq = record["seq_num"]?.intValue, let timestamp = record["timestamp"]?.intValue else {
                throw HarnessError("a v2 record without seq_num or timestamp: \(record)")
            }
            lastSeq = seq
            let headers = (record["headers"]?.arrayValue ?? []).map { ($0.arrayValue ?? []).compactMap(\.stringValue) }
            if headers.first?.first == "" { continue }
            var chunk: JSON?
            if let body = record["body"]?.stringValue, let parsed = try? JSON(parsing: body) {
                if let id = parsed["id"]?.stringValue {
                    if seenIds.contains(id) { continue }
                    seenIds.insert(id)
                }
                chunk = parsed["data"]
            }
            parts.append(Part(seq: seq, timestamp: timestamp, data: chunk, headers: headers))
        }
        return parts
    }

    /// Every part until the stream ends (`[DONE]` or the end of the body).
    mutating func readAll(_ stream: SSEConnection, timeout: TimeInterval = 10) throws -> [Part] {
        var all: [Part] = []
        while let parts = try next(stream, timeout: timeout) { all += parts }
        return all
    }
}

final class TriggerWireTests: RelayTestCase {
    /// env_prod reads in the v2 format unless a request asks otherwise.
    override class var relayEnvironment: [String: String] {
        ["RELAY_ENVIRONMENTS": """
            [{"id":"env_dev","slug":"dev","secretKeys":["tr_dev_test_key"]},\
            {"id":"env_prod","slug":"prod","secretKeys":["tr_prod_test_key","tr_prod_second_key"],"streamFormat":"v2"}]
            """,
         "RELAY_PING_INTERVAL_SECONDS": "0.5"]
    }

    private static var nodeB: RelayProcess?

    var apiB: RelayAPI {
        get throws {
            if Self.nodeB == nil {
                let node = try RelayProcess(redisURL: redis.url, environment: Self.relayEnvironment)
                try node.start()
                Self.nodeB = node
            }
            return RelayAPI(port: Self.nodeB!.port, bearer: TestEnvironments.devKey)
        }
    }

    override class func tearDown() {
        nodeB?.destroy()
        nodeB = nil
        super.tearDown()
    }

    // MARK: Helpers

    struct Credentials {
        var token: String
        var basin: String
        var stream: String
        var endpoint: String
    }

    func handshake(_ api: RelayAPI, _ session: String, _ io: String = "out") throws -> Credentials {
        let response = try api.http.request("PUT", RelayAPI.channelPath(session, io))
        XCTAssertEqual(response.status, 202, response.text)
        XCTAssertEqual(try response.json()["version"]?.stringValue, "v2")
        return Credentials(token: try XCTUnwrap(response.headers["X-S2-Access-Token"]),
                           basin: try XCTUnwrap(response.headers["X-S2-Basin"]),
                           stream: try XCTUnwrap(response.headers["X-S2-Stream-Name"]),
                           endpoint: try XCTUnwrap(response.headers["X-S2-Endpoint"]))
    }

    /// A unary JSON append through the S2 API (as the SDK sends control records).
    func s2Append(_ api: RelayAPI, _ credentials: Credentials, _ records: JSON, prefix: String = "/s2/v1") throws -> HTTPResponse {
        try api.authorized(credentials.token).http.request(
            "POST", "\(prefix)/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records",
            headers: [("s2-basin", credentials.basin)], json: .object(["records": records]))
    }

    static func envelope(_ data: JSON, id: String) -> JSON { .object(["body": .string(JSON.object(["data": data, "id": .string(id)]).description)]) }

    // MARK: One log, two formats

    func testTheSameRecordsInOrderInBothFormatsWithControlsAndCommandsAsTheSDKSeesThem() throws {
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "out", #"{"type":"text-start"}"#).status, 200)
        let credentials = try handshake(api, session)
        // The SDK's writer: envelopes, one of them twice (a retried batch); then its control record.
        let written = try s2Append(apiB, credentials, .array([
            Self.envelope(.object(["type": .string("text-delta"), "delta": .string("hel")]), id: "c1"),
            Self.envelope(.object(["type": .string("text-delta"), "delta": .string("lo")]), id: "c2"),
            Self.envelope(.object(["type": .string("text-delta"), "delta": .string("lo")]), id: "c2"),
        ]))
        XCTAssertEqual(written.status, 200, written.text)
        let ack = try written.json()
        XCTAssertEqual(ack["start"]?["seq_num"]?.intValue, 2, "one sequence with POST …/append")
        XCTAssertEqual(ack["end"]?["seq_num"]?.intValue, 5)
        let control = try s2Append(api, credentials, .array([.object([
            "body": .string(""), "headers": .array([.array([.string("trigger-control"), .string("turn-complete")]),
                                                   .array([.string("session-in-event-id"), .string("0")])])])]))
        XCTAssertEqual(control.status, 200, control.text)
        XCTAssertEqual(try api.append(session, "out", "plain text").status, 200)

        // Documented: every record but the command records, ids are seqs, data as written.
        let documented = try apiB.subscribe(session, "out", headers: [("Timeout-Seconds", "1")])
        var events: [SSEEvent] = []
        while let event = try documented.nextDataEvent(timeout: 10) { events.append(event) }
        XCTAssertEqual(events.map(\.id), ["1", "2", "3", "4", "5", "6"])
        XCTAssertEqual(try events[1].json()["data"]?["delta"]?.stringValue, "hel")
        XCTAssertEqual(events[4].event, "control")
        XCTAssertEqual(try events[5].json()["data"]?.stringValue, "plain text")

        // v2 on the other node: the same seqs; the duplicate id is dropped by the reader, the
        // control record carries its headers, the stream ends with [DONE].
        let v2 = try api.subscribe(session, "out", headers: [("Timeout-Seconds", "1")], query: [("format", "v2")])
        XCTAssertEqual(v2.headers["X-Stream-Version"], "v2")
        var reader = V2Reader()
        let parts = try reader.readAll(v2)
        XCTAssertTrue(reader.done, "a stream that ends normally says [DONE]")
        XCTAssertEqual(parts.map(\.seq), [1, 2, 3, 5, 6])
        XCTAssertEqual(reader.lastSeq, 6)
        // An appended record's data is its body as a string (as the Trigger.dev webapp stores it).
        XCTAssertEqual(parts[0].data?.stringValue, #"{"type":"text-start"}"#)
        XCTAssertEqual(parts[1].data?["delta"]?.stringValue, "hel")
        XCTAssertEqual(parts[3].headers.first, ["trigger-control", "turn-complete"])
        XCTAssertNil(parts[3].data)
        XCTAssertEqual(parts[4].data?.stringValue, "plain text")
        XCTAssertEqual(parts.map(\.timestamp), parts.map(\.timestamp).sorted(), "timestamps never decrease")
        XCTAssertTrue(parts.allSatisfy { $0.timestamp > 1_700_000_000_000 }, "epoch milliseconds")
        XCTAssertEqual(reader.tails.last, 7, "the tail is the next seq")
    }

    func testAV2ReaderResumesAfterTheLastSeqNumItSawAndLiveRecordsFollow() throws {
        let session = try api.newSession()
        for i in 1...3 { XCTAssertEqual(try api.append(session, "in", "m\(i)").status, 200) }
        let first = try api.subscribe(session, "in", headers: [("Timeout-Seconds", "1")], query: [("format", "v2")])
        var reader = V2Reader()
        var parts: [V2Reader.Part] = []
        while parts.isEmpty, let next = try reader.next(first) { parts = next }
        XCTAssertEqual(parts.map(\.seq), [1])
        first.close()
        let resumed = try apiB.subscribe(session, "in", headers: [("Last-Event-ID", String(try XCTUnwrap(reader.lastSeq))),
                                                                  ("Timeout-Seconds", "5")], query: [("format", "v2")])
        var again = V2Reader()
        var seqs: [Int] = []
        while seqs.count < 2, let parts = try again.next(resumed) { seqs += parts.map(\.seq) }
        XCTAssertEqual(seqs, [2, 3])
        XCTAssertEqual(try api.append(session, "in", "m4").status, 200)
        var live: [V2Reader.Part] = []
        while live.isEmpty, let parts = try again.next(resumed) { live += parts }
        XCTAssertEqual(live.map(\.seq), [4])
        XCTAssertEqual(live.first?.data?.stringValue, "m4")
    }

    func testPingsCarryTheTail() throws {
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "in", "x").status, 200)
        let stream = try api.subscribe(session, "in", headers: [("Timeout-Seconds", "5")], query: [("format", "v2")])
        var ping: SSEEvent?
        while ping == nil, let event = try stream.nextEvent(timeout: 5), event.data != "[DONE]" {
            if event.event == "ping" { ping = event }
        }
        let json = try XCTUnwrap(ping, "a v2 stream pings with an event").json()
        XCTAssertEqual(json["tail"]?["seq_num"]?.intValue, 2)
        XCTAssertGreaterThan(json["timestamp"]?.intValue ?? 0, 1_700_000_000_000)
    }

    func testPeekSettledEndsAtOnceAfterATurnCompleteFollowedByATrim() throws {
        let session = try api.newSession()
        let credentials = try handshake(api, session)
        XCTAssertEqual(try s2Append(api, credentials, .array([Self.envelope(.string("a"), id: "a1")])).status, 200)
        XCTAssertEqual(try s2Append(api, credentials, .array([.object([
            "headers": .array([.array([.string("trigger-control"), .string("turn-complete")])])])])).status, 200)
        // The SDK trims after each turn-complete (a protobuf command record; the JSON spelling of
        // a command's 8-byte body needs base64).
        let trim = try api.authorized(credentials.token).http.request(
            "POST", "/s2/v1/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records",
            headers: [("s2-format", "base64")],
            json: .object(["records": .array([.object(["headers": .array([.array([.string(""), .string("dHJpbQ==")])]),
                                                       "body": .string("AAAAAAAAAAE=")])])]))
        XCTAssertEqual(trim.status, 200, trim.text)
        let started = Date()
        let stream = try apiB.subscribe(session, "out", headers: [("X-Peek-Settled", "1"), ("Timeout-Seconds", "30")],
                                        query: [("format", "v2")])
        XCTAssertEqual(stream.headers["X-Session-Settled"], "true")
        var reader = V2Reader()
        let parts = try reader.readAll(stream)
        XCTAssertTrue(reader.done)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "a settled stream does not wait out its timeout")
        XCTAssertEqual(parts.map(\.seq), [1, 2])
        XCTAssertEqual(reader.lastSeq, 3, "the trim record moves the cursor")
    }

    func testAStreamEndedForTheNodesSakeDoesNotSayDoneAndAHugeResumePointIsHarmless() throws {
        let session = try api.newSession()
        XCTAssertEqual(try api.append(session, "in", "x").status, 200)
        // A token that expires in 2 s: its stream ends then, without [DONE] (the client reconnects).
        let token = try TestToken.mint(envId: TestEnvironments.devId, scopes: ["read:sessions:\(session)"],
                                       secret: TestEnvironments.devKey, exp: Date().addingTimeInterval(2))
        let stream = try api.authorized(token).subscribe(session, "in", headers: [("Timeout-Seconds", "30")], query: [("format", "v2")])
        var events: [SSEEvent] = []
        while let event = try stream.nextEvent(timeout: 10) { events.append(event) }
        XCTAssertEqual(events.filter { $0.event == "batch" }.count, 1)
        XCTAssertFalse(events.contains { $0.data == "[DONE]" }, "\(events)")
        XCTAssertTrue(events.contains { $0.comments.contains { $0.contains("token expired") } })
        // The largest resume point a client can send, on every v2 read (pings included).
        let huge = String(UInt64.max)
        let far = try api.subscribe(session, "in", headers: [("Last-Event-ID", huge), ("Timeout-Seconds", "1")], query: [("format", "v2")])
        XCTAssertEqual(far.status, 200)
        _ = try far.readRemainingBody(timeout: 10)
        let credentials = try handshake(api, session, "in")
        let s2 = try api.authorized(credentials.token).http.request(
            "GET", "/v1/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records", headers: [("Last-Event-ID", huge)])
        XCTAssertEqual(s2.status, 400)
        XCTAssertEqual(try http.request("GET", "/healthz").status, 200, "the node is up")
    }

    // MARK: The v2 environment

    func testAV2EnvironmentStreamsAndDrainsInTheSDKsShapeUnlessAsked() throws {
        let prod = api.authorized(TestEnvironments.prodKey)
        let session = try prod.newSession()
        XCTAssertEqual(try prod.append(session, "in", #"{"kind":"message"}"#, partId: "part-1").status, 200)
        XCTAssertEqual(try prod.control(session, .object(["subtype": .string("turn-complete")])).status, 200)
        let drain = try prod.drain(session, "in", query: [("afterEventId", "0")])
        XCTAssertEqual(drain.status, 200)
        let record = try XCTUnwrap(try drain.json()["records"]?[0])
        XCTAssertEqual(record["id"]?.stringValue, "part-1", "the SDK's schema: id is the writer's id, a string")
        XCTAssertEqual(record["seqNum"]?.intValue, 1)
        XCTAssertEqual(record["data"]?.stringValue, #"{"kind":"message"}"#)
        let controls = try prod.drain(session, "out").json()["records"]?.arrayValue ?? []
        XCTAssertEqual(controls.first?["id"]?.stringValue, "")
        XCTAssertEqual(controls.first?["headers"]?[0]?[1]?.stringValue, "turn-complete")

        let stream = try prod.subscribe(session, "in", headers: [("Timeout-Seconds", "1")])
        XCTAssertEqual(stream.headers["X-Stream-Version"], "v2")
        var reader = V2Reader()
        XCTAssertEqual(try reader.readAll(stream).map(\.seq), [1])
        let documented = try prod.subscribe(session, "in", headers: [("Timeout-Seconds", "1")], query: [("format", "documented")])
        XCTAssertNil(documented.headers["X-Stream-Version"])
        XCTAssertEqual(try documented.nextDataEvent()?.id, "1")
        XCTAssertEqual(try api.drain(try api.newSession(), "in", query: [("format", "v3")]).status, 400)
    }

    // MARK: The PUT handshake and the S2 token

    func testTheHandshakeHandsOutChannelScopedCredentialsForThisRelay() throws {
        let session = try api.newSession()
        let credentials = try handshake(api, session)
        XCTAssertNotNil(credentials.basin.range(of: "^[a-z0-9][a-z0-9-]{6,46}[a-z0-9]$", options: .regularExpression),
                        "the SDK's basin rule")
        XCTAssertEqual(credentials.stream, "sessions/\(session)/out")
        XCTAssertEqual(credentials.endpoint, "http://127.0.0.1:\(api.port)/s2/v1")
        // .out needs a secret key; unknown sessions are 404 and say nothing else.
        let token = try TestToken.mint(envId: TestEnvironments.devId, scopes: ["read:sessions:\(session)", "write:sessions:\(session)"],
                                       secret: TestEnvironments.devKey)
        // Secret keys only: an S2 token may read, trim and fence its stream and write control
        // records, none of which a public token may do (not even one that may append to .in).
        XCTAssertEqual(try api.authorized(token).http.request("PUT", RelayAPI.channelPath(session, "out")).status, 403)
        XCTAssertEqual(try api.authorized(token).http.request("PUT", RelayAPI.channelPath(session, "in")).status, 403)
        XCTAssertEqual(try api.authorized(nil).http.request("PUT", RelayAPI.channelPath(session, "out") + "?token=\(token)").status, 401,
                       "a handshake never takes ?token=")
        XCTAssertEqual(try api.http.request("PUT", RelayAPI.channelPath(session, "in")).status, 202)
        XCTAssertEqual(try api.http.request("PUT", RelayAPI.channelPath("session_nope", "out")).status, 404)
    }

    func testAnS2TokenWritesItsOwnChannelAndNothingElse() throws {
        let mine = try api.newSession(), other = try api.newSession()
        let credentials = try handshake(api, mine)
        let record = JSON.array([Self.envelope(.string("x"), id: "x1")])
        XCTAssertEqual(try s2Append(api, credentials, record).status, 200)
        XCTAssertEqual(try s2Append(api, credentials, record, prefix: "/v1").status, 200, "S2's own path works too")
        var elsewhere = credentials
        for stream in ["sessions/\(other)/out", "sessions/\(mine)/in"] {
            elsewhere.stream = stream
            let refused = try s2Append(api, elsewhere, record)
            XCTAssertEqual(refused.status, 403, stream)
            XCTAssertEqual(try refused.json()["code"]?.stringValue, "permission_denied")
            XCTAssertFalse(refused.text.contains(other), "the answer names nothing of the other session")
        }
        XCTAssertEqual(try api.drain(other, "out").json()["records"]?.arrayValue?.count, 0, "nothing was written")
        // It opens nothing of the session API either, not even a read of its own channel.
        let asToken = api.authorized(credentials.token)
        XCTAssertEqual(try asToken.drain(mine, "out").status, 403)
        XCTAssertEqual(try asToken.append(mine, "in", "x").status, 403)
        // Another basin is not this relay's.
        let basin = try api.authorized(credentials.token).http.request(
            "POST", "/s2/v1/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records",
            headers: [("s2-basin", "someone-elses")], json: .object(["records": record]))
        XCTAssertEqual(basin.status, 404)
        XCTAssertEqual(try basin.json()["code"]?.stringValue, "basin_not_found")
    }

    func testAppendConditionsAnswerLikeS2() throws {
        let session = try api.newSession()
        let credentials = try handshake(api, session)
        let record = JSON.array([Self.envelope(.string("x"), id: "x1")])
        let mismatch = try api.authorized(credentials.token).http.request(
            "POST", "/v1/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records",
            json: .object(["records": record, "match_seq_num": .number(7)]))
        XCTAssertEqual(mismatch.status, 412)
        XCTAssertEqual(try mismatch.json()["seq_num_mismatch"]?.intValue, 1)
        let empty = try s2Append(api, credentials, .array([]))
        XCTAssertEqual(empty.status, 422)
        let malformed = try api.authorized(credentials.token).http.request(
            "POST", "/v1/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records",
            headers: [("Content-Type", "application/protobuf")], body: Data([0x0A, 0xFF]))
        XCTAssertEqual(malformed.status, 400)
        XCTAssertEqual(try api.drain(session, "out").json()["records"]?.arrayValue?.count, 0, "refused appends wrote nothing")
        let unwritten = try api.authorized(credentials.token).http.request(
            "GET", "/v1/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records?seq_num=5")
        XCTAssertEqual(unwritten.status, 416)
        XCTAssertEqual(try unwritten.json()["tail"]?["seq_num"]?.intValue, 1)
    }

    func testThePlatformRoutesTheRelayLeavesOutSaySo() throws {
        let session = try api.newSession()
        let response = try api.http.request("POST", "/api/v1/sessions/\(session)/end-and-continue", json: .object([:]))
        XCTAssertEqual(response.status, 501)
        XCTAssertTrue(try response.json()["error"]?.stringValue?.contains("docs/trigger-sdk.md") == true, response.text)
        XCTAssertEqual(try api.authorized(nil).http.request("POST", "/api/v1/sessions/\(session)/end-and-continue").status, 401)
    }

    func testHostileS2AppendsGetAClearS2ErrorAndChangeNothing() throws {
        let session = try api.newSession()
        let credentials = try handshake(api, session)
        let path = "/s2/v1/streams/\(HTTPClient.escapePathSegment(credentials.stream))/records"
        let writer = api.authorized(credentials.token).http
        func expect(_ status: Int, _ code: String, _ response: HTTPResponse, _ what: String) {
            XCTAssertEqual(response.status, status, "\(what): \(response)")
            XCTAssertEqual((try? response.json()["code"])??.stringValue, code, "\(what): \(response.text)")
        }
        let one = JSON.object(["records": .array([Self.envelope(.string("x"), id: "x")])])
        expect(400, "bad_header", try writer.request("POST", path, headers: [("s2-format", "hex")], json: one), "an unknown s2-format")
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        expect(400, "bad_request", try writer.request("POST", path, headers: [("Content-Type", "application/json")], body: Data(deep.utf8)),
               "JSON nested too deep")
        expect(413, "invalid", try writer.request("POST", path, headers: [("Content-Type", "application/json")],
                                                  body: Data(repeating: 0x20, count: (4 << 20) + 1)), "a body over the limit")
        let many = JSON.object(["records": .array(Array(repeating: Self.envelope(.string("x"), id: "x"), count: 1001))])
        expect(400, "bad_request", try writer.request("POST", path, json: many), "1001 records")
        // Protobuf: a header that is not UTF-8, an unknown command, a trim of 7 bytes.
        func input(_ header: (name: [UInt8], value: [UInt8]), body: [UInt8]) -> Data {
            var w = ProtobufWriter()
            w.message(1) { record in
                record.message(2) { h in h.bytesField(1, header.name); h.bytesField(2, header.value) }
                record.bytesField(3, body)
            }
            return Data(w.bytes)
        }
        let protobuf = [("Content-Type", "application/protobuf")]
        expect(422, "invalid", try writer.request("POST", path, headers: protobuf, body: input(([0xFF], [0x41]), body: [1])), "a non-UTF-8 header")
        expect(422, "invalid", try writer.request("POST", path, headers: protobuf, body: input(([], Array("explode".utf8)), body: [])),
               "an unknown command")
        expect(422, "invalid", try writer.request("POST", path, headers: protobuf, body: input(([], Array("trim".utf8)), body: [0, 0, 0, 0, 0, 0, 1])),
               "a trim of 7 bytes")
        // A stream name with a control byte, and one that is not a session's.
        expect(403, "permission_denied", try writer.request("POST", "/s2/v1/streams/sessions%2F%0A%2Fout/records", json: one), "a control byte")
        expect(404, "stream_not_found", try api.http.request("POST", "/s2/v1/streams/elsewhere/records", json: one), "not a session's stream")
        expect(404, "stream_not_found", try api.http.request("POST", "/s2/v1/streams/sessions%2Fsession_nope%2Fout/records", json: one),
               "an unknown session")
        XCTAssertEqual(try api.drain(session, "out").json()["records"]?.arrayValue?.count, 0, "nothing was written")
        XCTAssertEqual(try writer.request("POST", path, json: one).status, 200, "and the stream takes a good append after all that")
    }

    // MARK: Browsers

    func testCORSLetsAPageSendThePeekAndReadTheVersionHeaders() throws {
        let preflight = try api.http.request("OPTIONS", RelayAPI.channelPath("session_x", "out"),
                                             headers: [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")])
        XCTAssertTrue(preflight.headers["Access-Control-Allow-Headers"]?.contains("X-Peek-Settled") == true)
        let session = try api.newSession()
        let stream = try api.subscribe(session, "out", headers: [("Origin", "https://app.example"), ("Timeout-Seconds", "1")],
                                       query: [("format", "v2")])
        let exposed = stream.headers["Access-Control-Expose-Headers"] ?? ""
        XCTAssertTrue(exposed.contains("X-Stream-Version") && exposed.contains("X-Session-Settled"), exposed)
    }
}
