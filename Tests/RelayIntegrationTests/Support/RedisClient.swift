// RedisClient.swift: a tiny blocking RESP2 client, for inspecting Redis from the tests.
//
// Commands go out as arrays of bulk strings; every reply wait is bounded (default 5 s).
// `command` returns error replies as `.error`; the named helpers throw on them.
// One connection, one thread.

import Foundation

final class RedisClient {
    private let socket: TCPSocket
    private let reader: BufferedReader
    let timeout: TimeInterval

    init(host: String = "127.0.0.1", port: UInt16, timeout: TimeInterval = 5) throws {
        self.timeout = timeout
        socket = try TCPSocket.open(host: host, port: port, timeout: timeout)
        reader = BufferedReader(socket: socket)
    }

    deinit { socket.close() }

    func close() { socket.close() }

    /// Sends one command and returns its reply (error replies included).
    func command(_ arguments: [String]) throws -> RESPValue {
        let deadline = Deadline.after(timeout)
        var bytes = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            let utf8 = Array(argument.utf8)
            bytes += Array("$\(utf8.count)\r\n".utf8) + utf8 + [13, 10]
        }
        try socket.send(bytes, deadline: deadline)
        return try RESPValue.read(from: reader, deadline: deadline)
    }

    func command(_ arguments: String...) throws -> RESPValue {
        try command(arguments)
    }

    /// Like `command`, but an error reply throws.
    @discardableResult
    func checked(_ arguments: String...) throws -> RESPValue {
        let reply = try command(arguments)
        if case .error(let message) = reply {
            throw HarnessError("redis \(arguments.joined(separator: " ")): \(message)")
        }
        return reply
    }

    func ping() throws {
        let reply = try checked("PING")
        guard reply.string == "PONG" else { throw HarnessError("PING answered \(reply)") }
    }

    func flushAll() throws { try checked("FLUSHALL") }

    func keys(_ pattern: String) throws -> [String] {
        try checked("KEYS", pattern).array?.compactMap(\.string) ?? []
    }

    /// Every entry of a stream, oldest first ([] if the key does not exist).
    func xrange(_ key: String, start: String = "-", end: String = "+") throws -> [StreamEntry] {
        try (checked("XRANGE", key, start, end).array ?? []).map(StreamEntry.init)
    }

    /// New entries for `consumer` in `group` (`>`); [] when none is waiting.
    func xreadgroup(group: String, consumer: String, key: String, count: Int = 100) throws -> [StreamEntry] {
        let reply = try checked("XREADGROUP", "GROUP", group, consumer, "COUNT", String(count), "STREAMS", key, ">")
        guard let streams = reply.array else { return [] }
        return try streams.flatMap { stream -> [StreamEntry] in
            guard let parts = stream.array, parts.count == 2 else { throw HarnessError("bad XREADGROUP reply: \(reply)") }
            return try (parts[1].array ?? []).map(StreamEntry.init)
        }
    }

    /// Names of the consumer groups of a stream.
    func groupNames(ofStream key: String) throws -> [String] {
        let groups = try checked("XINFO", "GROUPS", key).array ?? []
        return groups.compactMap { group in
            guard let flat = group.array else { return nil }
            for index in stride(from: 0, to: flat.count - 1, by: 2) where flat[index].string == "name" {
                return flat[index + 1].string
            }
            return nil
        }
    }
}
