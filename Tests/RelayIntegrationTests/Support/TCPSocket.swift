// TCPSocket.swift: the POSIX layer of the test harness.
//
// A blocking IPv4 TCP client socket whose every wait is bounded by a `Deadline`
// (RelayTestSupport's, checked by poll before each recv/send) and a `BufferedReader` on top of it.
// HTTPClient, SSEConnection and RedisClient are written on these; nothing else in the
// tests touches a file descriptor.
//
// Ownership: a TCPSocket owns its descriptor and closes it in `close()` or `deinit`.
// Not thread-safe: one socket belongs to one thread at a time.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

#if canImport(Glibc)
private let streamSocketType = Int32(SOCK_STREAM.rawValue)
private let sendFlags = Int32(MSG_NOSIGNAL)
#else
private let streamSocketType = SOCK_STREAM
private let sendFlags: Int32 = 0
#endif

// File-scope wrappers, so methods named like libc functions can still call them.
private func systemClose(_ fd: Int32) { _ = close(fd) }
private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ flags: Int32) -> Int {
    send(fd, bytes, count, flags)
}
private func systemAccept(_ fd: Int32) -> Int32 { accept(fd, nil, nil) }
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}

private func errnoText(_ code: Int32 = errno) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}

private func makeIPv4Address(host: String, port: UInt16) throws -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(port).bigEndian
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
        throw HarnessError("not an IPv4 address: \(host)")
    }
    return address
}

/// A connected TCP client socket with bounded waits.
final class TCPSocket {
    private(set) var fd: Int32
    let peer: String

    fileprivate init(fd: Int32, peer: String) {
        self.fd = fd
        self.peer = peer
    }

    deinit { close() }

    /// Connects to host:port, giving up after `timeout` seconds. Throws on refusal or timeout.
    /// `receiveBuffer` sets SO_RCVBUF before connecting (set later, the window crawls).
    static func open(host: String, port: UInt16, timeout: TimeInterval, receiveBuffer: Int32? = nil) throws -> TCPSocket {
        let fd = socket(AF_INET, streamSocketType, 0)
        guard fd >= 0 else { throw HarnessError("socket(): \(errnoText())") }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let peer = "\(host):\(port)"
        let sock = TCPSocket(fd: fd, peer: peer)
        #if canImport(Darwin)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        var address = try makeIPv4Address(host: host, port: port)
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else { throw HarnessError("connect to \(peer): \(errnoText())") }
            let deadline = Deadline.after(timeout)
            guard try sock.waitFor(events: Int16(POLLOUT), deadline: deadline) else {
                throw HarnessError("connect to \(peer): no answer within \(timeout) s")
            }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            guard soError == 0 else { throw HarnessError("connect to \(peer): \(errnoText(soError))") }
        }
        _ = fcntl(fd, F_SETFL, flags)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return sock
    }

    /// Waits until the socket is ready for `events`; false when the deadline passed first.
    private func waitFor(events: Int16, deadline: Deadline) throws -> Bool {
        while true {
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&pfd, 1, deadline.pollMilliseconds)
            if rc > 0 { return true }
            if rc == 0 { return false }
            if errno != EINTR { throw HarnessError("poll on \(peer): \(errnoText())") }
        }
    }

    /// Sends every byte or throws (timeout, EPIPE, ECONNRESET, ...).
    func send(_ bytes: [UInt8], deadline: Deadline) throws {
        guard fd >= 0 else { throw HarnessError("send on closed socket to \(peer)") }
        var offset = 0
        while offset < bytes.count {
            guard try waitFor(events: Int16(POLLOUT), deadline: deadline) else {
                throw HarnessError("send to \(peer): timed out with \(bytes.count - offset) bytes unsent")
            }
            let n = bytes.withUnsafeBytes { raw in
                systemSend(fd, raw.baseAddress! + offset, bytes.count - offset, sendFlags)
            }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw HarnessError("send to \(peer): \(errnoText())")
            }
            offset += n
        }
    }

    /// Receives up to `maxBytes`; an empty array means the peer closed the connection.
    /// Throws when nothing arrives before the deadline.
    func receive(maxBytes: Int = 65_536, deadline: Deadline) throws -> [UInt8] {
        guard fd >= 0 else { throw HarnessError("receive on closed socket from \(peer)") }
        while true {
            guard try waitFor(events: Int16(POLLIN), deadline: deadline) else {
                throw HarnessError("receive from \(peer): nothing within the deadline")
            }
            var buffer = [UInt8](repeating: 0, count: maxBytes)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, maxBytes, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw HarnessError("receive from \(peer): \(errnoText())")
            }
            return Array(buffer[0..<n])
        }
    }

    /// Half-closes the sending side (the peer sees EOF on its read side).
    func shutdownWrite() {
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_WR)) }
    }

    func close() {
        if fd >= 0 {
            systemClose(fd)
            fd = -1
        }
    }
}

/// A listening socket on 127.0.0.1 (the harness self-tests serve canned answers with it).
final class TCPListener {
    private var fd: Int32
    let port: UInt16

    /// Listens on 127.0.0.1 at a free port.
    init() throws {
        let fd = socket(AF_INET, streamSocketType, 0)
        guard fd >= 0 else { throw HarnessError("socket(): \(errnoText())") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = try makeIPv4Address(host: "127.0.0.1", port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0, named == 0, listen(fd, 16) == 0 else {
            let message = errnoText()
            systemClose(fd)
            throw HarnessError("listen on 127.0.0.1: \(message)")
        }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close() }

    /// The next connection, or throws when none arrives before the deadline.
    func accept(deadline: Deadline) throws -> TCPSocket {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, deadline.pollMilliseconds) > 0 else {
            throw HarnessError("no connection to port \(port) within the deadline")
        }
        let client = systemAccept(fd)
        guard client >= 0 else { throw HarnessError("accept(): \(errnoText())") }
        return TCPSocket(fd: client, peer: "client of port \(port)")
    }

    func close() {
        if fd >= 0 {
            systemClose(fd)
            fd = -1
        }
    }
}

/// Buffered reads on a TCPSocket: lines, exact counts, "whatever is there".
final class BufferedReader {
    let socket: TCPSocket
    private var buffer: [UInt8] = []
    private(set) var reachedEOF = false

    init(socket: TCPSocket) { self.socket = socket }

    /// Reads more bytes into the buffer; false at end of stream.
    @discardableResult
    private func fill(deadline: Deadline) throws -> Bool {
        if reachedEOF { return false }
        let bytes = try socket.receive(deadline: deadline)
        if bytes.isEmpty {
            reachedEOF = true
            return false
        }
        buffer.append(contentsOf: bytes)
        return true
    }

    /// A line without its LF (and CR). nil at end of stream before any byte of a line;
    /// throws if the stream ends in the middle of one.
    func readLine(deadline: Deadline) throws -> String? {
        var searchFrom = 0
        while true {
            if let newline = buffer[searchFrom...].firstIndex(of: 10) {
                var line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            searchFrom = buffer.count
            guard try fill(deadline: deadline) else {
                if buffer.isEmpty { return nil }
                throw HarnessError("connection to \(socket.peer) closed in the middle of a line")
            }
        }
    }

    /// Exactly `count` bytes, or throws (end of stream or timeout).
    func readExactly(_ count: Int, deadline: Deadline) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill(deadline: deadline) else {
                throw HarnessError("connection to \(socket.peer) closed after \(buffer.count) of \(count) expected bytes")
            }
        }
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }

    /// Up to `maxBytes` bytes: what is buffered, else what the next receive brings.
    /// nil at end of stream.
    func readSome(maxBytes: Int, deadline: Deadline) throws -> [UInt8]? {
        if buffer.isEmpty {
            guard try fill(deadline: deadline) else { return nil }
        }
        let count = min(maxBytes, buffer.count)
        let bytes = Array(buffer[..<count])
        buffer.removeFirst(count)
        return bytes
    }
}
