// RawConnection.swift: one TCP connection to the relay driven byte by byte, for the hostile
// client tests (smuggling, slow heads, bodies that never end). Every wait is bounded.

import Foundation

final class RawConnection {
    let socket: TCPSocket
    let reader: BufferedReader

    /// `receiveBuffer`: a small one (and no autotuning) makes a client that does not read push
    /// back on the server after a few KiB.
    init(port: UInt16, timeout: TimeInterval = 5, receiveBuffer: Int32? = nil) throws {
        socket = try TCPSocket.open(host: "127.0.0.1", port: port, timeout: timeout, receiveBuffer: receiveBuffer)
        reader = BufferedReader(socket: socket)
    }

    func send(_ text: String, timeout: TimeInterval = 5) throws {
        try socket.send(Array(text.utf8), deadline: .after(timeout))
    }

    func send(_ bytes: [UInt8], timeout: TimeInterval = 5) throws {
        try socket.send(bytes, deadline: .after(timeout))
    }

    /// Reads one response (head and body).
    func readResponse(method: String = "GET", timeout: TimeInterval = 5) throws -> HTTPResponse {
        let deadline = Deadline.after(timeout)
        let head = try HTTPResponseHead.read(from: reader, deadline: deadline)
        let body = try HTTPBodyReader(reader: reader, framing: head.bodyFraming(requestMethod: method))
            .readAll(deadline: deadline)
        return HTTPResponse(status: head.status, headers: head.headers, body: Data(body))
    }

    /// True once the server has closed the connection with nothing more to say; false when
    /// bytes arrive instead. Throws when neither happens within `timeout`.
    func closedByServer(timeout: TimeInterval = 5) throws -> Bool {
        try reader.readSome(maxBytes: 1, deadline: .after(timeout)) == nil
    }

    /// Whether the server closed the connection within `timeout` (a reset counts as closed).
    func isClosed(within timeout: TimeInterval) -> Bool {
        do {
            let deadline = Deadline.after(timeout)
            while try reader.readSome(maxBytes: 65_536, deadline: deadline) != nil {}
            return true
        } catch let error as HarnessError where error.description.contains("nothing within the deadline") {
            return false
        } catch {
            return true
        }
    }

    func close() { socket.close() }
}

/// The resident memory of a process in bytes (VmRSS), from /proc.
func residentBytes(pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
        return nil
    }
    return kb * 1024
}

/// CPU time (user + system) a process has used, in seconds, from /proc.
func cpuSeconds(pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

extension RawConnection {
    /// Closes with a reset (SO_LINGER 0) instead of a FIN: the client vanishes at once.
    func reset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(socket.fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        socket.close()
    }
}

/// Prometheus text as name{labels} -> value.
func parseMetrics(_ text: String) -> [String: Double] {
    var values: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
    }
    return values
}

extension RelayTestCase {
    /// The relay's /metrics as name{labels} -> value.
    func scrapeMetrics() throws -> [String: Double] {
        parseMetrics(try http.request("GET", "/metrics").text)
    }
}
