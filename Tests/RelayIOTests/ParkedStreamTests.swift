// ParkedStreamTests: an idle HTTP/1.1 stream holds no bufferevent, no input or output buffer
// and no timer (HTTPConnection parks it), and parking changes nothing the client sees: frames
// arrive, a backlog is queued and written, the stream ends cleanly and the connection serves
// its next request, and a client that leaves a parked stream is noticed. A real loop and real
// sockets; the client is a non-blocking socket read from the loop's thread.
import Foundation
import RelayIO
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// glibc's usable size of an object's allocation (malloc.h is not in the Glibc module).
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> Int

private func allocatedBytes(_ object: AnyObject) -> Int { mallocUsableSize(Unmanaged.passUnretained(object).toOpaque()) }

final class ParkedStreamTests: XCTestCase {
    private final class Handler {
        var stream: HTTPExchange?
        var closes = 0
    }

    /// /sse starts a stream and keeps it in `handler`; anything else is answered "ok".
    private func makeServer(_ loop: EventLoop, _ handler: Handler) throws -> (HTTPServer, UInt16) {
        let server = HTTPServer(loop: loop)
        server.onHead = { _ in .readBody(limit: 0) }
        server.onRequest = { exchange in
            guard exchange.path == "/sse" else {
                return exchange.respond(status: 200, headers: [], body: Array("ok".utf8))
            }
            exchange.startStream(status: 200, headers: [("Content-Type", "text/event-stream")]) { handler.closes += 1 }
            handler.stream = exchange
        }
        return (server, UInt16(try server.listen(host: "127.0.0.1", port: 0)))
    }

    /// A client socket with a small receive buffer (so that a backlog builds up quickly).
    private final class Client {
        let fd: Int32
        var received: [UInt8] = []
        var text: String { String(decoding: received, as: UTF8.self) }

        init?(port: UInt16) {
            guard let fd = connectLoopback(port: port, receiveBuffer: 4096) else { return nil }
            self.fd = fd
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }

        deinit { Glibc.close(fd) }

        func send(_ text: String) {
            _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// Reads what has arrived (non-blocking).
        func readAvailable() {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { return }
                received += buffer[0..<n]
            }
        }
    }

    /// Runs the loop until `done` or 10 s.
    private func run(_ loop: EventLoop, _ what: String, until done: @escaping () -> Bool) {
        var timedOut = false
        let deadline = loop.after(10) { timedOut = true; loop.stop() }
        let poll = loop.every(0.005) { if done() { loop.stop() } }
        loop.run()
        deadline.cancel()
        poll.cancel()
        XCTAssertFalse(timedOut, "timed out waiting for \(what)")
    }

    func testAnIdleStreamIsParkedAndStillDeliversEverything() throws {
        let loop = EventLoop()
        let handler = Handler()
        let (server, port) = try makeServer(loop, handler)
        let client = try XCTUnwrap(Client(port: port))
        client.send("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
        run(loop, "the stream to start and park") {
            client.readAvailable()
            return client.text.contains("\r\n\r\n") && server.parkedStreams == 1
        }
        let stream = try XCTUnwrap(handler.stream)
        XCTAssertTrue(client.text.hasPrefix("HTTP/1.1 200 OK\r\n"), client.text)
        XCTAssertEqual(stream.unsentBytes, 0)
        // What an idle stream's exchange holds: its object (the request's head, path and query
        // are gone; it held the whole head before, 280 bytes), and nothing for a header.
        XCTAssertLessThanOrEqual(allocatedBytes(stream), 232)
        XCTAssertNil(stream.header("Host"))
        XCTAssertEqual(stream.path, "")

        // A frame the socket takes at once leaves the stream parked.
        XCTAssertEqual(stream.write([SharedFrame(Array("hello".utf8))]), 0)
        XCTAssertEqual(server.parkedStreams, 1)
        run(loop, "the frame") { client.readAvailable(); return client.text.hasSuffix("5\r\nhello\r\n") }

        // A frame the socket cannot take: the rest is queued in a bufferevent again.
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 4 << 20)
        let unsent = stream.write([SharedFrame(big)])
        XCTAssertGreaterThan(unsent, 0)
        XCTAssertEqual(server.parkedStreams, 0, "a backlog unparks the stream")
        XCTAssertEqual(stream.unsentBytes, unsent)
        // Once the client has read it all, the stream is parked again, but only once it has
        // been found idle (streamIdle, before each keepalive) twice: the first time ends the grace
        // a backlog gives (a busy slow reader keeps its bufferevent).
        let before = client.received.count
        run(loop, "the backlog to be written") {
            client.readAvailable()
            return client.received.count - before >= big.count + 10 && stream.unsentBytes == 0
        }
        XCTAssertTrue(client.text.hasSuffix("x\r\n"))
        XCTAssertEqual(server.parkedStreams, 0)
        XCTAssertEqual(stream.write([SharedFrame(Array("more".utf8))]), 0)
        XCTAssertEqual(server.parkedStreams, 0, "not parked by a write while the backlog's grace lasts")
        stream.streamIdle()
        XCTAssertEqual(server.parkedStreams, 0)
        stream.streamIdle()
        XCTAssertEqual(server.parkedStreams, 1, "idle twice: parked again")
        run(loop, "the last frame") { client.readAvailable(); return client.text.hasSuffix("4\r\nmore\r\n") }

        // The end of a parked stream, then the next request on the same connection.
        stream.endStream()
        XCTAssertEqual(server.parkedStreams, 0)
        run(loop, "the last chunk") { client.readAvailable(); return client.text.hasSuffix("\r\n0\r\n\r\n") }
        client.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        run(loop, "the next answer on the connection") { client.readAvailable(); return client.text.hasSuffix("\r\n\r\nok") }
        XCTAssertEqual(handler.closes, 0)
        XCTAssertEqual(server.openConnections, 1)
        server.stopListening()
    }

    func testAClientLeavingAParkedStreamIsNoticed() throws {
        let loop = EventLoop()
        let handler = Handler()
        let (server, port) = try makeServer(loop, handler)
        var client = Client(port: port)
        client?.send("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n")
        run(loop, "the stream to park") { client?.readAvailable(); return server.parkedStreams == 1 }
        client = nil   // closes the socket
        run(loop, "the stream to end") { handler.closes == 1 }
        XCTAssertEqual(server.parkedStreams, 0)
        XCTAssertEqual(server.openConnections, 0)
        XCTAssertEqual(server.outstanding, 0)
        server.stopListening()
    }
}
