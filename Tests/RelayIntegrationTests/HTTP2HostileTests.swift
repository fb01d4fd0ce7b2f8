// HTTP2HostileTests.swift: the relay's HTTP/2 listener (h2c with prior knowledge) against
// clients that write raw frames as an attacker would: rapid reset (CVE-2023-44487),
// CONTINUATION floods (CVE-2024-27316 class), PING / SETTINGS / PRIORITY / empty DATA floods,
// header lists over the head limit, more streams than SETTINGS_MAX_CONCURRENT_STREAMS, a
// flow-control window that never opens, and a body declared over the route's limit. Each test
// asserts what would fail without the defence, then that another client is served promptly
// over HTTP/1.1 and over HTTP/2 (curl --http2-prior-knowledge and a raw connection).

import XCTest
import Foundation

final class HTTP2HostileTests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_MAX_UNSENT_BYTES": "65536"]
    }

    private var devAuth: (String, String) { ("authorization", "Bearer \(TestEnvironments.devKey)") }

    // MARK: Helpers

    /// curl over h2c with prior knowledge: the status code (nil if curl got none) and stderr.
    private func curlH2(_ path: String, headers: [String] = [], method: String = "GET") throws -> (status: Int?, errors: String) {
        let outcome = try ChildProcess.runToEnd("curl", ["--http2-prior-knowledge", "-s", "-S", "-o", "/dev/null", "-w", "%{http_code}",
                                                         "--max-time", "5", "-X", method] + headers.flatMap { ["-H", $0] }
                                                + ["http://127.0.0.1:\(relay.port)\(path)"], timeout: 10)
        let code = Int(outcome.text.trimmingCharacters(in: .whitespacesAndNewlines))
        return (code == 0 ? nil : code, outcome.errorText)
    }

    /// Another client is served, and soon: GET /healthz over HTTP/1.1, over curl's HTTP/2, and
    /// over a raw h2c connection.
    /// Nothing of the attacker's streams is left subscribed: with a new subscriber open the node
    /// counts exactly one, and the channel's first record reaches it as id 1.
    private func assertNoSubscriberLeft(on session: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let subscriber = try api.subscribe(session, "out")
        defer { subscriber.close() }
        try waitUntil(timeout: 5, "the node to count only the new subscriber") {
            try http.request("GET", "/metrics").text.contains("relay_sse_subscribers{channel=\"out\"} 1.0")
        }
        XCTAssertEqual(try api.append(session, "out", "after").status, 200, file: file, line: line)
        XCTAssertEqual(try subscriber.nextDataEvent(timeout: 3)?.data, #"{"data":"after","id":1}"#, file: file, line: line)
    }

    private func assertOthersAreServed(after attack: String, file: StaticString = #filePath, line: UInt = #line) {
        let started = Date()
        XCTAssertEqual((try? http.request("GET", "/healthz", timeout: 3))?.status, 200,
                       "HTTP/1.1 GET /healthz after \(attack)", file: file, line: line)
        let curl = try? curlH2("/healthz")
        XCTAssertEqual(curl?.status, 200, "curl --http2-prior-knowledge GET /healthz after \(attack): \(curl?.errors ?? "curl failed")",
                       file: file, line: line)
        do {
            let client = try H2Connection(port: relay.port)
            defer { client.close() }
            try client.handshake()
            try client.send(H2.headers(stream: 1, H2.request("GET", "/healthz"), endStream: true))
            XCTAssertEqual(try client.waitForResponse(stream: 1, timeout: 3), 200, "raw h2c GET /healthz after \(attack)",
                           file: file, line: line)
        } catch {
            XCTFail("raw h2c GET /healthz after \(attack): \(error)", file: file, line: line)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 3, "the three requests after \(attack) were prompt",
                          file: file, line: line)
    }

    /// A relay_http2_* counter from /metrics, nil while RelayMetrics does not export it.
    private func metric(_ name: String) -> Double? {
        (try? scrapeMetrics())?[name]
    }

    private func rss() throws -> Int {
        try XCTUnwrap(residentBytes(pid: try XCTUnwrap(relay.pid)), "VmRSS of the relay")
    }

    // MARK: Rapid reset (CVE-2023-44487)

    /// 5000 streams opened and reset at once each. nghttp2's reset rate limit (burst 200, then
    /// 50/s: HTTPServerLimits.http2ResetBurst/http2ResetsPerSecond) answers with GOAWAY after the
    /// burst; nghttp2 1.52 (Debian's backport of the 1.57 fix) sends INTERNAL_ERROR, not
    /// ENHANCE_YOUR_CALM. The GOAWAY's last stream id shows how few streams were taken.
    func testRapidResetIsCutOffWithGoawayAndMemoryStaysFlat() throws {
        let before = try rss()
        let resetsBefore = metric("relay_http2_resets_received_total")
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        let block = H2.hpack(H2.request("GET", "/healthz"))
        var stream: UInt32 = 1
        var sent = 0
        for _ in 0..<10 {
            var batch: [UInt8] = []
            for _ in 0..<500 {
                batch += H2.headers(stream: stream, block: block, endStream: true) + H2.rstStream(stream: stream, code: H2.ErrorCode.cancel)
                stream += 2
            }
            guard client.trySend(batch) else { break }
            sent += 500
        }
        let code = try client.waitForGoaway(timeout: 10)
        XCTAssertEqual(code, H2.ErrorCode.internalError,
                       "GOAWAY after a rapid reset burst (\(sent) pairs sent): got \(code.map(H2.ErrorCode.name) ?? "a close without GOAWAY")")
        let last = client.goaways.first?.lastStream ?? .max
        XCTAssertLessThan(last, 2 * 400, "the GOAWAY came after about the 200-reset burst, not after all \(sent) streams (last stream \(last))")
        XCTAssertTrue(client.waitForClose(timeout: 5), "the connection ends after the GOAWAY; frames: \(client.received.suffix(5))")
        let after = try rss()
        XCTAssertLessThan(after - before, 8 << 20, "RSS went from \(before >> 20) MiB to \(after >> 20) MiB")
        if let resetsBefore, let resetsAfter = metric("relay_http2_resets_received_total") {
            XCTAssertGreaterThanOrEqual(resetsAfter - resetsBefore, 200, "the resets were counted")
        }
        assertOthersAreServed(after: "a rapid reset burst")
    }

    /// The same attack on never-ending SSE streams (the handler subscribes before the reset):
    /// the GOAWAY comes just as soon and the subscribers are released.
    func testRapidResetOfSSEStreamsIsCutOff() throws {
        let session = try api.newSession()
        let before = try rss()
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        let block = H2.hpack(H2.request("GET", RelayAPI.channelPath(session, "out"), [devAuth]))
        var stream: UInt32 = 1
        for _ in 0..<6 {
            var batch: [UInt8] = []
            for _ in 0..<500 {
                batch += H2.headers(stream: stream, block: block, endStream: true) + H2.rstStream(stream: stream)
                stream += 2
            }
            guard client.trySend(batch) else { break }
        }
        let code = try client.waitForGoaway(timeout: 10)
        XCTAssertEqual(code, H2.ErrorCode.internalError, "got \(code.map(H2.ErrorCode.name) ?? "a close without GOAWAY")")
        XCTAssertTrue(client.waitForClose(timeout: 5))
        XCTAssertLessThan(try rss() - before, 8 << 20)
        // Nothing of the reset streams is left subscribed: a record reaches a new subscriber only.
        try assertNoSubscriberLeft(on: session)
        assertOthersAreServed(after: "a rapid reset of SSE streams")
    }

    /// "MadeYouReset" (CVE-2025-8671): the client makes the server reset each stream, here with
    /// a WINDOW_UPDATE that overflows the stream's window (RST_STREAM FLOW_CONTROL_ERROR from
    /// nghttp2) right after an SSE request the handler has already started on. Such resets free
    /// the stream's concurrency slot like a client's own RST_STREAM but are not counted by the
    /// rapid-reset limit of libnghttp2 1.52, and the relay counts no resets it sends itself.
    /// Expected: cut off like a rapid reset (GOAWAY after a few hundred streams).
    /// (Before the fix all 3000 streams were opened and reset, with no GOAWAY.)
    func testServerProvokedResetsAreCutOffLikeARapidReset() throws {
        let session = try api.newSession()
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        let block = H2.hpack(H2.request("GET", RelayAPI.channelPath(session, "out"), [devAuth]))
        var stream: UInt32 = 1
        for _ in 0..<6 {
            var batch: [UInt8] = []
            for _ in 0..<500 {
                batch += H2.headers(stream: stream, block: block, endStream: true)
                    + H2.windowUpdate(stream: stream, increment: 0x7FFF_FFFF)
                stream += 2
            }
            guard client.trySend(batch) else { break }
            client.drain(for: 0.05)   // read, so that the relay's output never blocks it
        }
        var resets = client.received.filter { $0.kind == .rstStream }.count
        var goaway = client.goaways.first?.errorCode
        if goaway == nil && resets < 3000 {
            goaway = try client.waitFor(timeout: 10, "a GOAWAY, or all 3000 streams reset") { frame -> UInt32? in
                if frame.kind == .rstStream { resets += 1 }
                if frame.kind == .goaway { return frame.errorCode }
                return resets >= 3000 ? UInt32.max : nil
            }
            if goaway == .max { goaway = nil }
        }
        let total = client.received.filter { $0.kind == .rstStream }.count
        XCTAssertNotNil(goaway, "no GOAWAY: the relay opened and reset \(total) streams of one connection (the cap is 128 concurrent, 200 resets)")
        XCTAssertLessThan(total, 1000, "streams reset by the server before the connection was cut")
        assertOthersAreServed(after: "server-provoked resets")
    }

    // MARK: CONTINUATION floods

    /// A header block may span HEADERS and 8 CONTINUATION frames (nghttp2's cap, set in
    /// HTTP2Session.makeServer); the 9th ends the connection instead of being buffered.
    func testContinuationFramesAreCappedAtEightPerHeaderBlock() throws {
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        var bytes = H2.headers(stream: 1, H2.request("GET", "/healthz"), endStream: true, endHeaders: false)
        for i in 0..<8 { bytes += H2.continuation(stream: 1, block: H2.hpack([("x-part-\(i)", "v")]), endHeaders: i == 7) }
        try client.send(bytes)
        XCTAssertEqual(try client.waitForResponse(stream: 1), 200, "HEADERS and 8 CONTINUATION frames are one request")

        bytes = H2.headers(stream: 3, H2.request("GET", "/healthz"), endStream: true, endHeaders: false)
        for i in 0..<9 { bytes += H2.continuation(stream: 3, block: H2.hpack([("x-part-\(i)", "v")]), endHeaders: i == 8) }
        client.trySend(bytes)
        let answered = try client.waitFor(timeout: 5, "the connection to end") { $0.kind == .headers && $0.stream == 3 ? true : nil }
        XCTAssertNil(answered, "a 9th CONTINUATION frame is not served")
        XCTAssertTrue(client.closed, "the connection ended; frames: \(client.received)")
        assertOthersAreServed(after: "9 CONTINUATION frames")
    }

    /// An endless header block (HEADERS without END_HEADERS, then CONTINUATION frames for as
    /// long as the relay reads them): it stops reading almost at once, and its memory stays flat.
    func testContinuationFloodEndsTheConnectionWithoutBuffering() throws {
        let before = try rss()
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        try client.send(H2.headers(stream: 1, H2.request("GET", "/healthz"), endStream: true, endHeaders: false))
        let frame = H2.continuation(stream: 1, block: H2.hpack([("x-pad", String(repeating: "a", count: 1000))]))
        let batch = Array([[UInt8]](repeating: frame, count: 256).joined())
        var sent = 0
        let started = Date()
        while sent < 256 << 20, Date().timeIntervalSince(started) < 10, client.trySend(batch, timeout: 2) { sent += batch.count }
        XCTAssertTrue(client.sendFailed, "the relay stopped taking CONTINUATION frames (\(sent >> 10) KiB taken)")
        XCTAssertLessThan(sent, 16 << 20, "it stopped after a bounded amount (kernel buffers included)")
        XCTAssertTrue(client.waitForClose(timeout: 5), "the connection ended")
        XCTAssertFalse(client.received.contains { $0.kind == .headers }, "no response: \(client.received)")
        XCTAssertLessThan(try rss() - before, 8 << 20, "RSS")
        assertOthersAreServed(after: "a CONTINUATION flood")
    }

    // MARK: Control frame floods

    /// Thousands of PING or SETTINGS frames in one burst from a client that reads nothing.
    /// nghttp2 stops at 100 unsent ACKs (max_outbound_ack; the relay reads a whole burst before
    /// it writes) with NGHTTP2_ERR_FLOODED, and the relay closes the connection; nghttp2 queues no
    /// GOAWAY for that, so none is required here. What matters: at most about 100 answers, then
    /// the end.
    func testPingAndSettingsBurstsEndTheConnection() throws {
        let floods: [(String, (UInt32) -> [UInt8])] = [
            ("PING", { H2.ping(UInt64($0)) }),
            ("SETTINGS", { _ in H2.settings([]) }),
            ("SETTINGS with entries", { _ in H2.settings([(H2.Setting.initialWindowSize, 65_535), (H2.Setting.maxFrameSize, 16_384)]) }),
        ]
        for (name, frame) in floods {
            let client = try H2Connection(port: relay.port, receiveBuffer: 4096)
            defer { client.close() }
            try client.handshake()
            client.trySend((0..<5000).flatMap { frame(UInt32($0)) }, timeout: 5)
            XCTAssertTrue(client.waitForClose(timeout: 10), "\(name) flood: the connection ends; frames: \(client.received.suffix(3))")
            // Without the cap the relay would answer all 5000 (an ACK each).
            let acks = client.received.filter { ($0.kind == .ping || $0.kind == .settings) && $0.flags & H2.Flag.ack != 0 }.count
            XCTAssertLessThanOrEqual(acks, 101, "\(name) flood: \(acks) ACKs answered (1 for the handshake, 100 queued)")
            if let code = client.goaways.first?.errorCode {
                XCTAssertEqual(code, H2.ErrorCode.enhanceYourCalm, "\(name) flood: \(H2.ErrorCode.name(code))")
            }
        }
        assertOthersAreServed(after: "PING and SETTINGS bursts")
    }

    /// PRIORITY and empty DATA frames need no answer, so nghttp2's ACK cap never sees them: the
    /// relay's token bucket (burst 200, then 50/s) does, and the connection is told
    /// ENHANCE_YOUR_CALM and ends.
    func testPriorityAndEmptyDataFloodsGetEnhanceYourCalm() throws {
        let session = try api.newSession()
        let appendPath = RelayAPI.channelPath(session, "in") + "/append"
        let floods: [(String, (UInt32) -> [UInt8], [UInt8])] = [
            ("PRIORITY", { H2.priority(stream: 2 * $0 + 1) }, []),
            ("PRIORITY on one stream", { _ in H2.priority(stream: 1) }, []),
            ("empty DATA", { _ in H2.data(stream: 1, []) },
             H2.headers(stream: 1, H2.request("POST", appendPath, [devAuth]), endStream: false)),
        ]
        for (name, frame, opening) in floods {
            let client = try H2Connection(port: relay.port, receiveBuffer: 4096)
            defer { client.close() }
            try client.handshake()
            if !opening.isEmpty { try client.send(opening) }
            client.trySend((0..<5000).flatMap { frame(UInt32($0)) }, timeout: 5)
            let code = try client.waitForGoaway(timeout: 10)
            XCTAssertEqual(code, H2.ErrorCode.enhanceYourCalm,
                           "\(name) flood: got \(code.map(H2.ErrorCode.name) ?? "a close without GOAWAY"); frames: \(client.received.suffix(3))")
            XCTAssertTrue(client.waitForClose(timeout: 5), "\(name) flood: the connection ends")
        }
        XCTAssertEqual(try api.drain(session, "in").json()["records"]?.arrayValue?.count, 0, "the flooded append stored nothing")
        assertOthersAreServed(after: "PRIORITY and empty DATA floods")
    }

    /// DATA frames that carry only padding (PADDED, pad length 0: a frame length of 1, no data)
    /// are as empty as zero-length ones, and should cost a token of the same bucket.
    /// (Before the fix the length tested included the padding: 200,000 such frames passed.)
    func testPaddingOnlyDataFramesCountAsEmpty() throws {
        let session = try api.newSession()
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        try client.send(H2.headers(stream: 1, H2.request("POST", RelayAPI.channelPath(session, "in") + "/append", [devAuth])))
        let padded = H2.frame(.data, flags: H2.Flag.padded, stream: 1, [0])
        client.trySend(Array([[UInt8]](repeating: padded, count: 5000).joined()))
        let code = (try? client.waitForGoaway(timeout: 3)) ?? nil
        XCTAssertEqual(code, H2.ErrorCode.enhanceYourCalm,
                       "5000 padding-only DATA frames: no GOAWAY within 3 s; frames: \(client.received.suffix(3))")
    }

    /// A PING flood from a client that reads every ACK (so nghttp2's cap of 100 unsent ACKs is
    /// never reached): rounds of 50 PINGs, each round's ACKs read before the next. The token
    /// bucket (200, then 50/s) ends it with GOAWAY ENHANCE_YOUR_CALM after about 200.
    func testAPingFloodThatReadsItsAcksStillGetsEnhanceYourCalm() throws {
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        var acked = 0
        var code: UInt32?
        rounds: for round in 0..<20 {
            guard client.trySend((0..<50).flatMap { H2.ping(UInt64(round * 50 + $0)) }) else { break }
            var roundAcks = 0
            while roundAcks < 50 {
                guard let frame = try client.readFrame(deadline: .after(5)) else { break rounds }
                if frame.kind == .ping && frame.flags & H2.Flag.ack != 0 { roundAcks += 1 }
                if frame.kind == .goaway {
                    code = frame.errorCode
                    break rounds
                }
            }
            acked += roundAcks
        }
        XCTAssertEqual(code, H2.ErrorCode.enhanceYourCalm, "after \(acked) PINGs answered: \(client.received.suffix(3))")
        XCTAssertLessThanOrEqual(acked, 300, "the bucket holds 200 and refills at 50/s")
        XCTAssertTrue(client.waitForClose(timeout: 5))
        assertOthersAreServed(after: "a PING flood that reads its ACKs")
    }

    /// PINGs within the token bucket are answered: 150 at once (in rounds of 50, each round's
    /// ACKs read), then a second's refill, then 90 more: 240 in all, each answered, no GOAWAY.
    func testPingsWithinTheRateAreAnswered() throws {
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        var acks = 0
        for (round, size) in [50, 50, 50, 90].enumerated() {
            if round == 3 { Thread.sleep(forTimeInterval: 1.1) }   // the client's pace, not a synchronisation
            try client.send((0..<size).flatMap { H2.ping(UInt64(round * 100 + $0)) })
            var roundAcks = 0
            _ = try client.waitFor(timeout: 5, "\(size) PING ACKs") { frame -> Bool? in
                if frame.kind == .ping && frame.flags & H2.Flag.ack != 0 { roundAcks += 1 }
                return roundAcks == size || frame.kind == .goaway ? true : nil
            }
            acks += roundAcks
        }
        XCTAssertEqual(acks, 240, "every PING answered; frames: \(client.received.suffix(3))")
        XCTAssertTrue(client.goaways.isEmpty, "no GOAWAY: \(client.goaways)")
    }

    // MARK: Header lists and streams

    /// 20 KB of header fields (the head limit is 16 KiB, advertised as
    /// SETTINGS_MAX_HEADER_LIST_SIZE) is refused with 431, and the connection serves on.
    func testHeaderListOverTheLimitIs431AndTheConnectionServesOn() throws {
        let big = String(repeating: "b", count: 20_000)
        let curl = try curlH2("/healthz", headers: ["x-big: \(big)"])
        XCTAssertEqual(curl.status, 431, "curl: \(curl.errors)")

        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        // 20 fields of 1000 bytes across HEADERS and CONTINUATION frames (each under 16 KiB).
        let fields = (0..<20).map { ("x-field-\($0)", String(repeating: "c", count: 1000)) }
        let block = H2.hpack(H2.request("GET", "/healthz") + fields)
        let cut = block.count / 2
        try client.send(H2.headers(stream: 1, block: Array(block[..<cut]), endStream: true, endHeaders: false)
            + H2.continuation(stream: 1, block: Array(block[cut...]), endHeaders: true))
        XCTAssertEqual(try client.waitForResponse(stream: 1), 431)
        try client.send(H2.headers(stream: 3, H2.request("GET", "/healthz"), endStream: true))
        XCTAssertEqual(try client.waitForResponse(stream: 3), 200, "the same connection serves the next stream")
        assertOthersAreServed(after: "a 20 KB header list")
    }

    /// With its SETTINGS acknowledged, a client opens 128 never-ending SSE streams (the cap,
    /// SETTINGS_MAX_CONCURRENT_STREAMS) and then more. nghttp2 treats a stream over an
    /// acknowledged cap as a connection error: GOAWAY PROTOCOL_ERROR, and the connection ends
    /// (RFC 9113 5.1.2 allows PROTOCOL_ERROR or REFUSED_STREAM).
    func testStreamsOverTheConcurrencyCapEndTheConnection() throws {
        let session = try api.newSession()
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        let settings = try client.handshake()
        let advertised = settings.first { $0.0 == H2.Setting.maxConcurrentStreams }?.1
        XCTAssertEqual(advertised, 128, "SETTINGS_MAX_CONCURRENT_STREAMS: \(settings)")
        // A PING round trip: the relay has taken our SETTINGS ACK before the streams open.
        try client.send(H2.ping(7))
        _ = try client.waitFor(timeout: 5, "the PING ACK") { $0.kind == .ping && $0.flags & H2.Flag.ack != 0 ? true : nil }

        let block = H2.hpack(H2.request("GET", RelayAPI.channelPath(session, "out"), [devAuth]))
        var bytes: [UInt8] = []
        for i in 0..<128 { bytes += H2.headers(stream: UInt32(2 * i + 1), block: block, endStream: true) }
        try client.send(bytes)
        var opened = Set<UInt32>()
        _ = try client.waitFor(timeout: 10, "128 SSE responses") { frame -> Bool? in
            if frame.kind == .headers { opened.insert(frame.stream) }
            return opened.count == 128 || frame.kind == .goaway || frame.kind == .rstStream ? true : nil
        }
        XCTAssertEqual(opened.count, 128, "128 streams are served; frames: \(client.received.suffix(5))")

        try client.send(H2.headers(stream: 257, block: block, endStream: true))
        let verdict = try client.waitFor(timeout: 5, "the relay's answer to stream 129") { frame -> String? in
            if frame.kind == .goaway { return "GOAWAY \(H2.ErrorCode.name(frame.errorCode ?? 99))" }
            if frame.kind == .rstStream && frame.stream == 257 { return "RST_STREAM \(H2.ErrorCode.name(frame.errorCode ?? 99))" }
            if frame.kind == .headers && frame.stream == 257 { return "served" }
            return nil
        }
        XCTAssertEqual(verdict, "GOAWAY \(H2.ErrorCode.name(H2.ErrorCode.protocolError))")
        XCTAssertTrue(client.waitForClose(timeout: 5), "the connection ends; its 128 streams with it")
        // The 128 subscribers are gone with it: a new one gets the next record as id 1.
        try assertNoSubscriberLeft(on: session)
        assertOthersAreServed(after: "streams over the cap")
    }

    /// Before its SETTINGS are acknowledged the cap is only pending: nghttp2 refuses streams
    /// over it one by one (RST_STREAM REFUSED_STREAM) and the connection serves on.
    func testStreamsOverThePendingCapAreRefused() throws {
        let session = try api.newSession()
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        // No SETTINGS ACK: the relay's SETTINGS are not in force yet.
        let block = H2.hpack(H2.request("GET", RelayAPI.channelPath(session, "out"), [devAuth]))
        var bytes: [UInt8] = []
        for i in 0..<130 { bytes += H2.headers(stream: UInt32(2 * i + 1), block: block, endStream: true) }
        try client.send(bytes)
        var served = Set<UInt32>()
        var refused: [UInt32: UInt32] = [:]
        _ = try client.waitFor(timeout: 10, "130 streams answered") { frame -> Bool? in
            if frame.kind == .headers { served.insert(frame.stream) }
            if frame.kind == .rstStream { refused[frame.stream] = frame.errorCode }
            return served.count + refused.count >= 130 || frame.kind == .goaway ? true : nil
        }
        XCTAssertEqual(served.count, 128, "frames: \(client.received.suffix(5))")
        XCTAssertEqual(refused, [257: H2.ErrorCode.refusedStream, 259: H2.ErrorCode.refusedStream])
        XCTAssertTrue(client.goaways.isEmpty, "\(client.goaways)")
    }

    // MARK: Flow control

    /// A client advertises SETTINGS_INITIAL_WINDOW_SIZE 0 and never sends WINDOW_UPDATE, with 8
    /// SSE streams open while 48 records of 4 KiB are appended: each stream's queue passes
    /// RELAY_MAX_UNSENT_BYTES (64 KiB) and the stream is reset (CANCEL), the relay's memory stays
    /// flat, and an HTTP/1.1 subscriber of the same channel gets every record promptly.
    func testAWindowThatNeverOpensResetsTheStreamsNotTheOthers() throws {
        let session = try api.newSession()
        let before = try rss()
        let client = try H2Connection(port: relay.port, settings: [(H2.Setting.initialWindowSize, 0)])
        defer { client.close() }
        try client.handshake()
        let block = H2.hpack(H2.request("GET", RelayAPI.channelPath(session, "out"), [devAuth]))
        let streams = (0..<8).map { UInt32(2 * $0 + 1) }
        try client.send(streams.flatMap { H2.headers(stream: $0, block: block, endStream: true) })
        var opened = Set<UInt32>()
        _ = try client.waitFor(timeout: 5, "8 SSE response heads") { frame -> Bool? in
            if frame.kind == .headers { opened.insert(frame.stream) }
            return opened.count == 8 ? true : nil
        }
        XCTAssertFalse(client.received.contains { $0.kind == .data }, "no DATA through a shut window")

        let normal = try api.subscribe(session, "out")
        defer { normal.close() }
        let payload = String(repeating: "w", count: 4096)
        var lateness: [TimeInterval] = []
        for i in 1...48 {
            XCTAssertEqual(try api.append(session, "out", "\(i)-\(payload)").status, 200)
            let appended = Date()
            let event = try normal.nextDataEvent(timeout: 3)
            XCTAssertEqual(event?.id, String(i), "the HTTP/1.1 subscriber gets record \(i)")
            lateness.append(Date().timeIntervalSince(appended))
        }
        XCTAssertLessThan(lateness.max() ?? 99, 1, "each record reached the HTTP/1.1 subscriber within a second")

        var resets: [UInt32: UInt32] = [:]
        _ = try client.waitFor(timeout: 10, "RST_STREAM on the 8 starved streams") { frame -> Bool? in
            if frame.kind == .rstStream { resets[frame.stream] = frame.errorCode }
            return resets.count == 8 || frame.kind == .goaway ? true : nil
        }
        XCTAssertEqual(resets, Dictionary(uniqueKeysWithValues: streams.map { ($0, H2.ErrorCode.cancel) }),
                       "each starved stream is reset once its queue passes 64 KiB; frames: \(client.received.suffix(5))")
        XCTAssertFalse(client.received.contains { $0.kind == .data }, "still no DATA")
        XCTAssertLessThan(try rss() - before, 8 << 20, "RSS")
        // The connection itself is fine: it serves a request (its response has no body to hold).
        try client.send(H2.headers(stream: 17, H2.request("GET", "/healthz"), endStream: true))
        XCTAssertEqual(try client.waitForResponse(stream: 17), 200)
        assertOthersAreServed(after: "a window that never opens")
    }

    // MARK: Request bodies

    /// An append declaring 2 MB (the limit is 1 MiB, BodyLimit.record) is answered 413 from its
    /// HEADERS, before any DATA, and the stream is ended (RST_STREAM NO_ERROR: the rest of the
    /// request is not wanted); without credentials the answer is 401, just as early. The
    /// connection serves on.
    func testABodyDeclaredOverTheLimitIsAnsweredBeforeAnyData() throws {
        let session = try api.newSession()
        let path = RelayAPI.channelPath(session, "in") + "/append"
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        try client.send(H2.headers(stream: 1, H2.request("POST", path, [devAuth, ("content-length", "2000000")])))
        XCTAssertEqual(try client.waitForResponse(stream: 1), 413)
        let end = try client.waitForStreamEnd(stream: 1)
        XCTAssertTrue(end.ended, "stream 1 ends; frames: \(client.received)")
        XCTAssertTrue(end.reset == nil || end.reset == H2.ErrorCode.noError, "ended cleanly or with NO_ERROR: \(end)")

        try client.send(H2.headers(stream: 3, H2.request("POST", path, [("content-length", "2000000")])))
        XCTAssertEqual(try client.waitForResponse(stream: 3), 401)
        XCTAssertTrue(try client.waitForStreamEnd(stream: 3).ended)

        try client.send(H2.headers(stream: 5, H2.request("GET", "/healthz"), endStream: true))
        XCTAssertEqual(try client.waitForResponse(stream: 5), 200)
        XCTAssertEqual(try api.drain(session, "in").json()["records"]?.arrayValue?.count, 0, "nothing stored")
        assertOthersAreServed(after: "bodies declared over the limit")
    }

    // MARK: Metrics

    /// The HTTP/2 counters are exported (RelayMetrics) and a flood moves them.
    func testHTTP2CountersAreExported() throws {
        let names = ["relay_http2_floods_total", "relay_http2_calm_goaways_total", "relay_http2_stalled_streams_total",
                     "relay_http2_resets_received_total"]
        let exported = try scrapeMetrics()
        let missing = names.filter { exported[$0] == nil }
        guard missing.isEmpty else {
            return XCTFail("not in /metrics yet (Sources/RelayHTTP/RelayMetrics.swift must export them): \(missing)")
        }
        let client = try H2Connection(port: relay.port)
        defer { client.close() }
        try client.handshake()
        client.trySend((0..<1000).flatMap { _ in H2.priority(stream: 1) })
        XCTAssertEqual(try client.waitForGoaway(), H2.ErrorCode.enhanceYourCalm)
        let after = try scrapeMetrics()
        XCTAssertGreaterThan(after["relay_http2_calm_goaways_total"] ?? 0, exported["relay_http2_calm_goaways_total"] ?? 0)
        XCTAssertGreaterThan(after["relay_http2_floods_total"] ?? 0, exported["relay_http2_floods_total"] ?? 0)
    }
}

/// The flow-control stall check with a short write timeout (RELAY_HTTP_TIMEOUT_SECONDS=2).
final class HTTP2StallTests: RelayTestCase {
    override class var relayEnvironment: [String: String] {
        ["RELAY_HTTP_TIMEOUT_SECONDS": "2", "RELAY_PING_INTERVAL_SECONDS": "1"]
    }

    /// A window that lets 5 bytes of an 11-byte response through and then stays shut: the
    /// stream is reset (CANCEL) once its bytes have not moved for the write timeout.
    func testAStreamWhoseWindowShutsIsResetAfterTheWriteTimeout() throws {
        let client = try H2Connection(port: relay.port, settings: [(H2.Setting.initialWindowSize, 5)])
        defer { client.close() }
        try client.handshake()
        try client.send(H2.headers(stream: 1, H2.request("GET", "/healthz"), endStream: true))
        XCTAssertEqual(try client.waitForResponse(stream: 1), 200)
        let started = Date()
        XCTAssertEqual(try client.waitForReset(stream: 1, timeout: 12), H2.ErrorCode.cancel, "\(client.received)")
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 1.5, "not before the write timeout")
    }

    /// A client that advertises SETTINGS_INITIAL_WINDOW_SIZE 0 and never opens it: its
    /// responses should be reset after the write timeout just the same, or each held stream keeps
    /// its whole response body in memory for as long as the client likes (128 streams a
    /// connection; a records drain is megabytes).
    /// (Before the fix the stall check was armed only when nghttp2 took bytes, which it never
    /// does through a window of 0: no reset, no close.)
    func testAStreamWhoseWindowNeverOpensIsResetAfterTheWriteTimeout() throws {
        let client = try H2Connection(port: relay.port, settings: [(H2.Setting.initialWindowSize, 0)])
        defer { client.close() }
        try client.handshake()
        try client.send(H2.headers(stream: 1, H2.request("GET", "/healthz"), endStream: true))
        XCTAssertEqual(try client.waitForResponse(stream: 1), 200)
        let outcome = try? client.waitFor(timeout: 12, "RST_STREAM on stream 1 or a close") { frame -> UInt32? in
            frame.kind == .rstStream && frame.stream == 1 ? frame.errorCode : nil
        }
        XCTAssertTrue(outcome != nil || client.closed,
                      "stream 1 still held 12 s after the 2 s write timeout, its response body unsent; frames: \(client.received)")
    }
}
