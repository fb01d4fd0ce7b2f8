// CannedHTTPServer.swift: a one-connection HTTP server that answers with fixed bytes.
//
// Used only by HarnessSelfTests, to check the HTTP and SSE clients without a relay.
// It reads one request (head, then a Content-Length or chunked body), records it, writes the
// response pieces in order (each flushed on its own, so a client sees them arrive apart),
// then closes.

import Foundation

final class CannedHTTPServer {
    let port: UInt16
    private let listener: TCPListener
    private let finished = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var recorded: [UInt8] = []
    private var failure: Error?

    /// Starts serving `responsePieces` to the first connection, on a background thread.
    init(responsePieces: [[UInt8]]) throws {
        listener = try TCPListener()
        port = listener.port
        let listener = self.listener
        Thread { [self] in
            do {
                let socket = try listener.accept(deadline: .after(10))
                let request = try Self.readRequest(BufferedReader(socket: socket))
                lock.lock()
                recorded = request
                lock.unlock()
                for piece in responsePieces {
                    try socket.send(piece, deadline: .after(5))
                    usleep(20_000)  // lets the client read each piece on its own
                }
                socket.close()
            } catch {
                lock.lock()
                failure = error
                lock.unlock()
            }
            finished.signal()
        }.start()
    }

    convenience init(response: String) throws {
        try self.init(responsePieces: [Array(response.utf8)])
    }

    /// The request bytes received, once the response was written (throws if serving failed).
    func receivedRequest(timeout: TimeInterval = 10) throws -> String {
        guard finished.wait(timeout: .now() + timeout) == .success else {
            throw HarnessError("canned server on \(port) did not finish")
        }
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        return String(decoding: recorded, as: UTF8.self)
    }

    private static func readRequest(_ reader: BufferedReader) throws -> [UInt8] {
        let deadline = Deadline.after(10)
        var bytes: [UInt8] = []
        var contentLength = 0
        var chunked = false
        while let line = try reader.readLine(deadline: deadline) {
            bytes += Array((line + "\r\n").utf8)
            if line.isEmpty { break }
            let lower = line.lowercased()
            if lower.hasPrefix("content-length:") { contentLength = Int(lower.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0 }
            if lower.hasPrefix("transfer-encoding:"), lower.contains("chunked") { chunked = true }
        }
        if chunked {
            while let line = try reader.readLine(deadline: deadline) {
                bytes += Array((line + "\r\n").utf8)
                if line == "0" {
                    _ = try reader.readLine(deadline: deadline)
                    bytes += [13, 10]
                    break
                }
                if let size = Int(line, radix: 16) {
                    bytes += try reader.readExactly(size + 2, deadline: deadline)
                }
            }
        } else if contentLength > 0 {
            bytes += try reader.readExactly(contentLength, deadline: deadline)
        }
        return bytes
    }
}
