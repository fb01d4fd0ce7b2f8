// StreamedBodyTests: request bodies read as a stream of pieces (HeadDecision.streamBody), over
// real sockets on a real loop: HTTP/2 through nghttp2 on both sides (the relay's HTTP2Client),
// HTTP/1.1 through a raw socket on another thread. The handler starts its response at once and
// acknowledges every piece on it, so each test proves full duplex: the client sends the next
// piece only after it has read the acknowledgement of the one before.
import Foundation
import RelayIO
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class StreamedBodyTests: XCTestCase {
    /// What the handler saw.
    private final class Seen {
        var pieces: [String] = []
        var end: HTTPBodyEnd?
    }

    /// A server whose /echo route streams its body: each piece is answered with "ack <text>\n"
    /// on a response stream started at once; the end with "end\n". `pauseFirst` holds the body
    /// back after the first piece for `pauseSeconds`.
    private func makeServer(_ loop: EventLoop, limit: Int = 1000, bodyTimeout: Double = 5, pauseFirst: Double? = nil,
                            seen: Seen) throws -> (HTTPServer, UInt16) {
        var limits = HTTPServerLimits()
        limits.bodyTimeoutSeconds = bodyTimeout
        let server = HTTPServer(loop: loop, limits: limits)
        server.onHead = { exchange in exchange.path == "/echo" ? .streamBody(limit: limit) : .readBody(limit: limit) }
        server.onRequest = { exchange in
            exchange.startStream(status: 200, headers: [("Content-Type", "text/plain")], onClose: {})
            exchange.onBodyChunk = { bytes in
                let text = String(decoding: bytes, as: UTF8.self)
                seen.pieces.append(text)
                exchange.write([SharedFrame(Array("ack \(text)\n".utf8))])
                if let pause = pauseFirst, seen.pieces.count == 1 {
                    exchange.pauseBody()
                    _ = loop.after(pause) { exchange.resumeBody() }
                }
            }
            exchange.onBodyEnd = { end in
                seen.end = end
                if end == .complete {
                    exchange.write([SharedFrame(Array("end\n".utf8))])
                    exchange.endStream()
                }
            }
        }
        let port = try server.listen(host: "127.0.0.1", port: 0)
        return (server, UInt16(port))
    }

    /// Runs the loop until `done` is set or `seconds` pass.
    private func run(_ loop: EventLoop, seconds: Double, _ what: String, until done: @escaping () -> Bool) {
        var timedOut = false
        let deadline = loop.after(seconds) { timedOut = true; loop.stop() }
        let poll = loop.every(0.01) { if done() { loop.stop() } }
        loop.run()
        deadline.cancel()
        poll.cancel()
        XCTAssertFalse(timedOut, "timed out waiting for \(what)")
    }

    /// An HTTP/2 client that sends `pieces` one at a time, each after the acknowledgement of the
    /// one before; returns what it read and how the stream ended.
    private func http2Exchange(_ loop: EventLoop, port: UInt16, pieces: [String], finish: Bool = true,
                               seconds: Double = 5) -> (text: String, status: Int, ended: Bool, error: String?) {
        let client = HTTP2Client(loop: loop, host: "127.0.0.1", port: port)
        var text = "", status = 0, ended = false, error: String?
        var sent = 0
        var stream: HTTP2ClientStream?
        func sendNext() {
            guard let stream else { return }
            if sent < pieces.count {
                stream.send(Array(pieces[sent].utf8))
                sent += 1
            } else if finish, sent == pieces.count {
                sent += 1
                stream.finish()
            }
        }
        XCTAssertTrue(client.connect())
        stream = client.request(.post, "/echo", streamingBody: true, onResponse: { code, _ in
            status = code
            sendNext()
        }, onData: { bytes in
            text += String(decoding: bytes, as: UTF8.self)
            // The next piece goes only once this one's acknowledgement is here.
            if text.hasSuffix("ack \(pieces[min(sent, pieces.count) - 1])\n") { sendNext() }
        }, onEnd: { reason in
            ended = true
            error = reason
        })
        run(loop, seconds: seconds, "the HTTP/2 exchange to end") { ended }
        client.close()
        return (text, status, ended, error)
    }

    func testHTTP2AcknowledgesEachPieceWhileTheBodyIsStillArriving() throws {
        let loop = EventLoop()
        let seen = Seen()
        let (server, port) = try makeServer(loop, seen: seen)
        let result = http2Exchange(loop, port: port, pieces: ["one", "two", "three"])
        XCTAssertEqual(result.status, 200)
        XCTAssertNil(result.error)
        XCTAssertEqual(result.text, "ack one\nack two\nack three\nend\n")
        XCTAssertEqual(seen.pieces, ["one", "two", "three"])
        XCTAssertEqual(seen.end, .complete)
        XCTAssertEqual(server.bufferedBodyBytes, 0, "no body bytes held after the end")
        server.stopListening()
    }

    func testHTTP2BodyOverTheLimitIsRefusedMidStream() throws {
        let loop = EventLoop()
        let seen = Seen()
        let (server, port) = try makeServer(loop, limit: 8, seen: seen)
        let result = http2Exchange(loop, port: port, pieces: ["12345", "67890"])
        XCTAssertEqual(seen.pieces, ["12345"], "the piece past the limit never reached the handler")
        XCTAssertEqual(seen.end, .refused(status: 413, message: "Request body too large (at most 8 bytes)"))
        XCTAssertTrue(result.ended)
        XCTAssertNotNil(result.error, "the started response stream was reset, not ended cleanly")
        server.stopListening()
    }

    func testHTTP2PieceDeadlineEndsABodyThatStops() throws {
        let loop = EventLoop()
        let seen = Seen()
        let (server, port) = try makeServer(loop, bodyTimeout: 0.3, seen: seen)
        let started = Date()
        let result = http2Exchange(loop, port: port, pieces: ["only"], finish: false)
        XCTAssertEqual(seen.pieces, ["only"])
        XCTAssertEqual(seen.end, .refused(status: 408, message: "Request body not received in time"))
        XCTAssertTrue(result.ended)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        XCTAssertEqual(server.counters.bodyTimeouts, 1)
        server.stopListening()
    }

    /// A paused body is held back (HTTP/2 flow control is not acknowledged), then delivered in
    /// order once resumed.
    func testHTTP2PausedBodyIsDeliveredInOrderOnResume() throws {
        let loop = EventLoop()
        let seen = Seen()
        let (server, port) = try makeServer(loop, pauseFirst: 0.3, seen: seen)
        let client = HTTP2Client(loop: loop, host: "127.0.0.1", port: port)
        XCTAssertTrue(client.connect())
        var text = "", ended = false
        var piecesWhilePaused: [String]?
        let stream = client.request(.post, "/echo", streamingBody: true, onResponse: { _, _ in }, onData: { bytes in
            text += String(decoding: bytes, as: UTF8.self)
        }, onEnd: { _ in ended = true })
        for piece in ["a", "b", "c", "d"] { stream.send(Array(piece.utf8)) }
        stream.finish()
        _ = loop.after(0.15) { piecesWhilePaused = seen.pieces }
        run(loop, seconds: 5, "the paused exchange to end") { ended }
        XCTAssertEqual(piecesWhilePaused?.count, 1, "nothing was delivered while paused: \(piecesWhilePaused ?? [])")
        XCTAssertEqual(seen.pieces.joined(), "abcd")
        XCTAssertEqual(seen.end, .complete)
        XCTAssertTrue(text.hasSuffix("end\n"), text)
        client.close()
        server.stopListening()
    }

    /// HTTP/1.1 with a chunked body: the same full duplex, a raw client on another thread.
    func testHTTP11ChunkedBodyIsAcknowledgedPieceByPiece() throws {
        let loop = EventLoop()
        let seen = Seen()
        let (server, port) = try makeServer(loop, seen: seen)
        var clientResult: Result<String, Error>?
        let lock = NSLock()
        let thread = Thread {
            let result = Result { try Self.rawChunkedExchange(port: port, pieces: ["one", "two"]) }
            lock.lock(); clientResult = result; lock.unlock()
        }
        thread.start()
        run(loop, seconds: 10, "the HTTP/1.1 client to finish") { lock.lock(); defer { lock.unlock() }; return clientResult != nil }
        let text = try XCTUnwrap(clientResult).get()
        XCTAssertTrue(text.contains("Transfer-Encoding: chunked"), text)
        XCTAssertTrue(text.contains("ack one\n") && text.contains("ack two\n") && text.contains("end\n"), text)
        XCTAssertEqual(seen.pieces, ["one", "two"])
        XCTAssertEqual(seen.end, .complete)
        server.stopListening()
    }

    /// Sends the head and each chunk, reading the acknowledgement of one before sending the next.
    private static func rawChunkedExchange(port: UInt16, pieces: [String]) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "socket", code: 1) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw NSError(domain: "connect", code: Int(errno)) }
        func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } }
        var received = ""
        func read(until marker: String) throws {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !received.contains(marker) {
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { throw NSError(domain: "recv: \(received)", code: Int(errno)) }
                received += String(decoding: buffer[0..<n], as: UTF8.self)
            }
        }
        send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces {
            send(String(piece.utf8.count, radix: 16) + "\r\n" + piece + "\r\n")
            try read(until: "ack \(piece)\n")
        }
        send("0\r\n\r\n")
        try read(until: "end\n")
        try read(until: "0\r\n\r\n")
        return received
    }
}
