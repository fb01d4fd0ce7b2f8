// ReportingPageServer.swift: a tiny HTTP/1.1 server on 127.0.0.1 for browser tests.
//
// GET (any path) answers with `page` (text/html); POST /report records its body (one report
// per request, typically JSON from the page's fetch()) and answers 204. A test reads the
// reports while the browser runs, so it needs neither --dump-dom nor --virtual-time-budget:
// the page can keep EventSources open (or waiting for a connection slot) for as long as the
// test wants. Each connection is served on its own thread, keep-alive supported; `stop()`
// closes the listener and every connection.

import Foundation

final class ReportingPageServer {
    let port: UInt16
    private let listener: TCPListener
    private let page: String
    private let lock = NSLock()
    private var reports: [String] = []
    private var sockets: [TCPSocket] = []
    private var stopped = false

    init(page: String) throws {
        listener = try TCPListener()
        port = listener.port
        self.page = page
        Thread { [self] in acceptLoop() }.start()
    }

    deinit { stop() }

    /// Every report body received so far, in arrival order.
    var received: [String] {
        lock.lock()
        defer { lock.unlock() }
        return reports
    }

    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        // Shut down, not close: a serving thread may be blocked in poll on the descriptor. It
        // wakes (or notices `stopped` within a second) and closes it itself, under the lock.
        sockets.forEach { $0.shutdownWrite() }
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    private func acceptLoop() {
        while !isStopped {
            guard let socket = try? listener.accept(deadline: .after(0.2)) else { continue }
            lock.lock()
            if stopped {
                lock.unlock()
                socket.close()
                break
            }
            sockets.append(socket)
            lock.unlock()
            Thread { [self] in serve(socket) }.start()
        }
        listener.close()
    }

    private func serve(_ socket: TCPSocket) {
        defer {
            lock.lock()
            sockets.removeAll { $0 === socket }
            socket.close()
            lock.unlock()
        }
        let reader = BufferedReader(socket: socket)
        while !isStopped {
            let requestLine: String
            do {
                // An idle keep-alive connection is checked for stop() every second.
                guard let line = try reader.readLine(deadline: .after(1)) else { return }
                requestLine = line
            } catch let error as HarnessError where error.description.contains("within the deadline") {
                continue
            } catch {
                return
            }
            do {
                let parts = requestLine.split(separator: " ")
                guard parts.count == 3 else { return }
                var contentLength = 0
                while let line = try reader.readLine(deadline: .after(10)), !line.isEmpty {
                    let lower = line.lowercased()
                    if lower.hasPrefix("content-length:") {
                        contentLength = Int(lower.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                }
                let body = contentLength > 0 ? try reader.readExactly(contentLength, deadline: .after(10)) : []
                let response: String
                if parts[0] == "POST" {
                    lock.lock()
                    reports.append(String(decoding: body, as: UTF8.self))
                    lock.unlock()
                    response = "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\n\r\n"
                } else {
                    let html = Array(page.utf8)
                    response = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"
                        + "Content-Length: \(html.count)\r\n\r\n" + page
                }
                try socket.send(Array(response.utf8), deadline: .after(10))
            } catch {
                return
            }
        }
    }
}
