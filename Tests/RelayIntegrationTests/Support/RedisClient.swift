// RedisClient.swift: a tiny blocking RESP2 client, for inspecting Redis from the tests.
//
// Against a single redis-server it is one connection (`init(port:)`). Against a Redis Cluster
// (`init(clusterPorts:)`, what `RedisCluster.client()` returns) it routes like `redis-cli -c`
// (see ClusterRouter): it follows MOVED and ASK, waits out TRYAGAIN and CLUSTERDOWN, sends
// server-wide admin commands (CLIENT PAUSE, CONFIG SET, ...) to every primary, and `keys`
// asks every primary. Either way every command is bounded by `timeout` (default 5 s).
// `command` returns error replies as `.error`; the named helpers throw on them.
// One client, one thread.

import Foundation

final class RedisClient {
    let timeout: TimeInterval
    private let route: Route

    private enum Route {
        case single(RESPConnection)
        case cluster(ClusterRouter)
    }

    /// One connection to one server (a single instance, or exactly one cluster node: no redirects).
    init(host: String = "127.0.0.1", port: UInt16, timeout: TimeInterval = 5) throws {
        self.timeout = timeout
        route = .single(try RESPConnection(host: host, port: port, timeout: timeout))
    }

    /// A client of the cluster that any of `clusterPorts` belongs to.
    init(host: String = "127.0.0.1", clusterPorts: [UInt16], timeout: TimeInterval = 5) throws {
        self.timeout = timeout
        route = .cluster(try ClusterRouter(host: host, seeds: clusterPorts, timeout: timeout))
    }

    func close() {
        switch route {
        case .single(let connection): connection.close()
        case .cluster(let router): router.close()
        }
    }

    var isCluster: Bool { if case .cluster = route { return true }; return false }

    /// Sends one command and returns its reply (error replies included).
    func command(_ arguments: [String]) throws -> RESPValue {
        let deadline = Deadline.after(timeout)
        switch route {
        case .single(let connection): return try connection.send(arguments, deadline: deadline)
        case .cluster(let router): return try router.command(arguments, deadline: deadline)
        }
    }

    func command(_ arguments: String...) throws -> RESPValue {
        try command(arguments)
    }

    /// The command's reply from every primary (a single instance: from it), in port order.
    func commandOnEveryPrimary(_ arguments: [String]) throws -> [RESPValue] {
        let deadline = Deadline.after(timeout)
        switch route {
        case .single(let connection): return [try connection.send(arguments, deadline: deadline)]
        case .cluster(let router): return try router.commandOnEveryPrimary(arguments, deadline: deadline)
        }
    }

    /// Like `command`, but an error reply throws.
    @discardableResult
    func checked(_ arguments: String...) throws -> RESPValue {
        try checked(arguments)
    }

    @discardableResult
    func checked(_ arguments: [String]) throws -> RESPValue {
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

    /// Keys matching `pattern` (in a cluster: on every primary).
    func keys(_ pattern: String) throws -> [String] {
        try commandOnEveryPrimary(["KEYS", pattern]).flatMap { reply -> [String] in
            if case .error(let message) = reply { throw HarnessError("redis KEYS \(pattern): \(message)") }
            return reply.array?.compactMap(\.string) ?? []
        }
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
