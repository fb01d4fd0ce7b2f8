// S2SessionTests.swift: S2S append sessions (docs/trigger-sdk.md) driven frame by frame over a
// raw h2c connection, as the Trigger.dev SDK's Node writer drives them, and as a hostile client
// would: many inputs in one write answered by one ack each, in order; a malformed, compressed or
// oversized frame, or a failed append condition, ends the session with a terminal frame and
// writes nothing of it; a writer that sends a partial frame and stops is cut at the body deadline.

import XCTest
import Foundation
import RelayCore

final class S2SessionTests: RelayTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_BODY_TIMEOUT_SECONDS": "2"] }

    // MARK: Helpers

    private func credentials(_ session: String) throws -> (token: String, stream: String) {
        let response = try api.http.request("PUT", RelayAPI.channelPath(session, "out"))
        XCTAssertEqual(response.status, 202)
        return (try XCTUnwrap(response.headers["X-S2-Access-Token"]), try XCTUnwrap(response.headers["X-S2-Stream-Name"]))
    }

    /// Opens an append session on stream 1 and returns the connection once the 200 arrived.
    private func openSession(_ token: String, _ stream: String) throws -> H2Connection {
        let client = try H2Connection(port: relay.port)
        try client.handshake()
        try client.send(H2.headers(stream: 1, H2.request("POST", "/s2/v1/streams/\(HTTPClient.escapePathSegment(stream))/records", [
            ("content-type", "s2s/proto"), ("accept", "application/protobuf"), ("authorization", "Bearer \(token)"),
            ("s2-basin", "relay-sessions"),
        ])))
        XCTAssertEqual(try client.waitForResponse(stream: 1, timeout: 5), 200, "the session answers at once")
        return client
    }

    /// An AppendInput of `bodies`, in an S2S frame.
    static func inputFrame(_ bodies: [String], matchSeqNum: UInt64? = nil, flag: UInt8 = 0) -> [UInt8] {
        var input = ProtobufWriter()
        for body in bodies { input.message(1) { $0.bytesField(3, Array(body.utf8)) } }
        if let matchSeqNum { input.uint64(2, matchSeqNum) }
        return frame(flag: flag, input.bytes)
    }

    static func frame(flag: UInt8, _ body: [UInt8]) -> [UInt8] {
        let length = body.count + 1
        return [UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF), flag] + body
    }

    enum Reply: Equatable {
        case ack(start: UInt64, end: UInt64)
        case terminal(status: Int, json: String)
    }

    /// The S2S frames the server sends on stream 1 until it ends the stream.
    /// Every DATA byte the server sends on stream 1 until it ends the stream (or resets it).
    private func bytesUntilTheEnd(_ client: H2Connection, timeout: TimeInterval) throws -> [UInt8] {
        var bytes: [UInt8] = []
        _ = try client.waitFor(timeout: timeout, "the end of the session") { frame -> Bool? in
            guard frame.stream == 1 else { return nil }
            if frame.kind == .data { bytes += frame.payload }
            if frame.kind == .rstStream { return true }
            return (frame.kind == .data || frame.kind == .headers) && frame.flags & H2.Flag.endStream != 0 ? true : nil
        }
        return bytes
    }

    private func replies(_ client: H2Connection, timeout: TimeInterval = 10) throws -> [Reply] {
        let bytes = try bytesUntilTheEnd(client, timeout: timeout)
        var replies: [Reply] = []
        var at = 0
        while bytes.count - at >= 4 {
            let length = Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2])
            let flag = bytes[at + 3]
            let body = Array(bytes[(at + 4)..<(at + 3 + length)])
            at += 3 + length
            if flag & 0x80 != 0 {
                replies.append(.terminal(status: Int(body[0]) << 8 | Int(body[1]), json: String(decoding: body[2...], as: UTF8.self)))
                continue
            }
            var reader = ProtobufReader(body[...])
            var start: UInt64 = 0, end: UInt64 = 0
            while let (number, type) = try reader.nextField() {
                let position = try S2Position(protobuf: try reader.lengthDelimited())
                XCTAssertEqual(type, .lengthDelimited)
                if number == 1 { start = position.seqNum }
                if number == 2 { end = position.seqNum }
            }
            replies.append(.ack(start: start, end: end))
        }
        XCTAssertEqual(at, bytes.count, "the server's frames are whole")
        return replies
    }

    private func drainedData(_ session: String) throws -> [String] {
        try (api.drain(session, "out").json()["records"]?.arrayValue ?? []).compactMap { $0["data"]?.stringValue }
    }

    // MARK: Tests

    func testManyInputsInOneWriteGetOneAckEachInOrderAndTheSessionEndsWithTheClient() throws {
        let session = try api.newSession()
        let (token, stream) = try credentials(session)
        let client = try openSession(token, stream)
        defer { client.close() }
        var pipelined: [UInt8] = []
        for i in 0..<60 { pipelined += Self.inputFrame((0...(i % 3)).map { "r\(i).\($0)" }) }
        // Frames split across DATA frames anywhere, as the client's writes fall.
        let cut = pipelined.count / 2 + 1
        try client.send(H2.data(stream: 1, Array(pipelined[..<cut])))
        try client.send(H2.data(stream: 1, Array(pipelined[cut...]), endStream: true))
        let acks = try replies(client)
        XCTAssertEqual(acks.count, 60, "one ack per input")
        var next: UInt64 = 1
        for (i, reply) in acks.enumerated() {
            XCTAssertEqual(reply, .ack(start: next, end: next + UInt64(i % 3 + 1)), "ack \(i)")
            next += UInt64(i % 3 + 1)
        }
        let data = try drainedData(session)
        XCTAssertEqual(data.count, 120)
        XCTAssertEqual(data.first, "r0.0")
        XCTAssertEqual(data.last, "r59.2")
    }

    func testAMalformedInputEndsTheSessionWithATerminalFrameAndWritesNothingOfIt() throws {
        let session = try api.newSession()
        let (token, stream) = try credentials(session)
        let client = try openSession(token, stream)
        defer { client.close() }
        try client.send(H2.data(stream: 1, Self.inputFrame(["good"]) + Self.frame(flag: 0, [0x0A, 0xFF, 0xFF]) + Self.inputFrame(["after"])))
        let replies = try replies(client)
        XCTAssertEqual(replies.first, .ack(start: 1, end: 2))
        guard case .terminal(let status, let json)? = replies.last, replies.count == 2 else { return XCTFail("\(replies)") }
        XCTAssertEqual(status, 400)
        XCTAssertTrue(json.contains("bad_proto"), json)
        XCTAssertEqual(try drainedData(session), ["good"], "nothing of the bad frame or after it")
    }

    func testCompressedAndOversizedFramesAreRefused() throws {
        let session = try api.newSession()
        let (token, stream) = try credentials(session)
        for (name, bytes) in [("zstd", Self.inputFrame(["x"], flag: 0x20)), ("oversized", [0xFF, 0xFF, 0xFF, 0x00]),
                              ("terminal from the client", Self.inputFrame(["x"], flag: 0x80))] {
            let client = try openSession(token, stream)
            defer { client.close() }
            try client.send(H2.data(stream: 1, bytes))
            guard case .terminal(400, let json)? = try replies(client).first else { return XCTFail(name) }
            XCTAssertTrue(json.contains("bad_frame"), "\(name): \(json)")
        }
        XCTAssertEqual(try drainedData(session), [])
    }

    func testAFailedConditionEndsTheSessionWithS2s412() throws {
        let session = try api.newSession()
        let (token, stream) = try credentials(session)
        let client = try openSession(token, stream)
        defer { client.close() }
        try client.send(H2.data(stream: 1, Self.inputFrame(["a"], matchSeqNum: 1) + Self.inputFrame(["b"], matchSeqNum: 1)))
        let replies = try replies(client)
        XCTAssertEqual(replies.first, .ack(start: 1, end: 2))
        XCTAssertEqual(replies.dropFirst().first, .terminal(status: 412, json: #"{"seq_num_mismatch":2}"#))
        XCTAssertEqual(try drainedData(session), ["a"])
    }

    func testAWriterThatStopsInsideAFrameIsCutAtTheBodyDeadline() throws {
        let session = try api.newSession()
        let (token, stream) = try credentials(session)
        let client = try openSession(token, stream)
        defer { client.close() }
        let frame = Self.inputFrame(["never finished"])
        try client.send(H2.data(stream: 1, Array(frame.prefix(5))))
        let started = Date()
        let replies = try replies(client, timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(started), 8, "the body deadline (2 s here) ended it")
        guard case .terminal(let status, _)? = replies.last else { return XCTFail("\(replies)") }
        XCTAssertEqual(status, 408)
        XCTAssertEqual(try drainedData(session), [])
        XCTAssertEqual(try http.request("GET", "/healthz").status, 200)
    }

    func testASessionForAnotherChannelIsRefusedBeforeItStarts() throws {
        let mine = try api.newSession(), other = try api.newSession()
        let (token, _) = try credentials(mine)
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        try client.send(H2.headers(stream: 1, H2.request("POST", "/v1/streams/\(HTTPClient.escapePathSegment("sessions/\(other)/out"))/records", [
            ("content-type", "s2s/proto"), ("authorization", "Bearer \(token)"),
        ])))
        XCTAssertEqual(try client.waitForResponse(stream: 1, timeout: 5), 403)
        XCTAssertEqual(try drainedData(other), [])
    }

    // MARK: Read sessions

    /// The ReadBatch frames of a read session on stream 1 until it ends: (seqs, tail) each.
    private func readBatches(_ client: H2Connection, timeout: TimeInterval = 10) throws -> [(seqs: [UInt64], tail: UInt64?)] {
        var bytes = try bytesUntilTheEnd(client, timeout: timeout)
        let batches = try Self.takeBatches(&bytes)
        XCTAssertEqual(bytes, [], "the server's frames are whole")
        return batches
    }

    /// Takes the whole ReadBatch frames from the front of `bytes`: each batch's record seqs and
    /// tail. What is left is part of a frame.
    static func takeBatches(_ bytes: inout [UInt8]) throws -> [(seqs: [UInt64], tail: UInt64?)] {
        var batches: [(seqs: [UInt64], tail: UInt64?)] = []
        var at = 0
        while bytes.count - at >= 4 {
            let length = Int(bytes[at]) << 16 | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2])
            guard bytes.count - at >= 3 + length else { break }
            XCTAssertEqual(bytes[at + 3], 0, "no terminal frame")
            var reader = ProtobufReader(bytes[(at + 4)..<(at + 3 + length)])
            at += 3 + length
            var seqs: [UInt64] = [], tail: UInt64?
            while let (number, _) = try reader.nextField() {
                let field = try reader.lengthDelimited()
                if number == 2 { tail = try S2Position(protobuf: field).seqNum }
                if number == 1 {
                    var record = ProtobufReader(field)
                    while let (n, type) = try record.nextField() {
                        if n == 1 { seqs.append(try record.varint()) } else { try record.skip(type) }
                    }
                }
            }
            batches.append((seqs, tail))
        }
        bytes.removeFirst(at)
        return batches
    }

    func testAReadSessionCatchesUpSaysSoGoesLiveAndEndsAfterItsCount() throws {
        let session = try api.newSession()
        let (token, stream) = try credentials(session)
        for i in 1...3 { XCTAssertEqual(try api.append(session, "out", "r\(i)").status, 200) }
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        try client.send(H2.headers(stream: 1, H2.request("GET", "/v1/streams/\(HTTPClient.escapePathSegment(stream))/records?seq_num=2&count=4", [
            ("content-type", "s2s/proto"), ("authorization", "Bearer \(token)"),
        ]), endStream: true))
        XCTAssertEqual(try client.waitForResponse(stream: 1, timeout: 5), 200)
        // Records 2 and 3 from the log, then a heartbeat (caught up): read them before appending.
        var seen: [UInt64] = []
        var sawHeartbeat = false
        var pending: [UInt8] = []
        _ = try client.waitFor(timeout: 5, "the catch-up and its heartbeat") { frame -> Bool? in
            guard frame.stream == 1, frame.kind == .data else { return nil }
            pending += frame.payload
            for batch in (try? Self.takeBatches(&pending)) ?? [] {
                // A heartbeat: a batch with only the tail.
                if batch.seqs.isEmpty && batch.tail != nil { sawHeartbeat = true } else { seen += batch.seqs }
            }
            return sawHeartbeat ? true : nil
        }
        XCTAssertEqual(seen, [2, 3])
        XCTAssertTrue(sawHeartbeat, "an empty batch with the tail says the session caught up")
        for i in 4...6 { XCTAssertEqual(try api.append(session, "out", "r\(i)").status, 200) }
        let live = try readBatches(client)
        XCTAssertEqual(live.flatMap(\.seqs), [4, 5], "live records, then the end at count 4")
        XCTAssertEqual(live.last?.tail, 6)
    }
}
