// RESPConnection.swift: one blocking RESP2 connection to one Redis server (a single instance
// or one cluster node). Commands go out as arrays of bulk strings; every reply wait is bounded
// by the caller's deadline. RedisClient builds on it (one of these, or one per cluster node).

import Foundation

final class RESPConnection {
    let host: String
    let port: UInt16
    private let socket: TCPSocket
    private let reader: BufferedReader

    init(host: String = "127.0.0.1", port: UInt16, timeout: TimeInterval) throws {
        self.host = host
        self.port = port
        socket = try TCPSocket.open(host: host, port: port, timeout: timeout)
        reader = BufferedReader(socket: socket)
    }

    deinit { socket.close() }

    func close() { socket.close() }

    /// Sends one command and reads its reply (error replies included) before `deadline`.
    func send(_ arguments: [String], deadline: Deadline) throws -> RESPValue {
        var bytes = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            let utf8 = Array(argument.utf8)
            bytes += Array("$\(utf8.count)\r\n".utf8) + utf8 + [13, 10]
        }
        try socket.send(bytes, deadline: deadline)
        return try RESPValue.read(from: reader, deadline: deadline)
    }
}
