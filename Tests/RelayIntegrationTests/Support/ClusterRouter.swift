// ClusterRouter.swift: how a test RedisClient talks to a Redis Cluster, like `redis-cli -c`.
//
// A command goes to the node that answered last (`home`) and follows the cluster's answers:
//   -MOVED <slot> <host>:<port>  sent again to that node (which becomes home);
//   -ASK <slot> <host>:<port>    sent again to that node once, preceded by ASKING;
//   -TRYAGAIN / -CLUSTERDOWN     sent again every 50 ms (a migration or failover in progress);
//   a refused or broken connection: sent again to the next seed node (a killed node).
// All of it within the command's deadline; a command that broke mid-flight may thus run twice
// (fine for inspecting; do not count on it for exactly-once writes).
// Server-wide admin commands (CLIENT PAUSE/UNPAUSE/KILL, CONFIG SET, FLUSHALL, FLUSHDB,
// SCRIPT FLUSH) go to every primary: the reply is the first error, else the first reply.

import Foundation

final class ClusterRouter {
    let host: String
    private let seeds: [UInt16]
    private let timeout: TimeInterval
    private var connections: [UInt16: RESPConnection] = [:]
    private var home: UInt16

    init(host: String, seeds: [UInt16], timeout: TimeInterval) throws {
        guard let first = seeds.first else { throw HarnessError("a cluster client needs at least one seed port") }
        self.host = host
        self.seeds = seeds
        self.timeout = timeout
        home = first
        // Fail now, as a single-instance client does, if no seed answers.
        let deadline = Deadline.after(timeout)
        var failures: [String] = []
        for port in seeds {
            do {
                _ = try connection(to: port, deadline: deadline)
                home = port
                return
            } catch {
                failures.append("\(port): \(error)")
            }
        }
        throw HarnessError("no cluster node answers: \(failures.joined(separator: "; "))")
    }

    func close() {
        connections.values.forEach { $0.close() }
        connections = [:]
    }

    static let serverWideCommands: Set<String> = [
        "CLIENT PAUSE", "CLIENT UNPAUSE", "CLIENT KILL", "CONFIG SET", "FLUSHALL", "FLUSHDB", "SCRIPT FLUSH",
    ]

    static func isServerWide(_ arguments: [String]) -> Bool {
        let words = arguments.prefix(2).map { $0.uppercased() }
        return serverWideCommands.contains(words.joined(separator: " ")) || serverWideCommands.contains(words.first ?? "")
    }

    func command(_ arguments: [String], deadline: Deadline) throws -> RESPValue {
        if Self.isServerWide(arguments) {
            let replies = try commandOnEveryPrimary(arguments, deadline: deadline)
            return replies.first { if case .error = $0 { return true }; return false } ?? replies[0]
        }
        var target = home
        var asking = false
        var lastProblem = "no attempt"
        var attempts = 0
        while true {
            attempts += 1
            if attempts > 1, deadline.hasPassed {
                throw HarnessError("redis cluster \(arguments.prefix(3).joined(separator: " ")): gave up after \(attempts - 1)"
                    + " attempts; last: \(lastProblem)")
            }
            let reply: RESPValue
            do {
                let connection = try connection(to: target, deadline: deadline)
                if asking {
                    let answer = try connection.send(["ASKING"], deadline: deadline)
                    if case .error(let message) = answer { throw HarnessError("ASKING answered \(message)") }
                }
                reply = try connection.send(arguments, deadline: deadline)
            } catch {
                lastProblem = "\(target): \(error)"
                drop(target)
                target = nextSeed(after: target)
                asking = false
                Thread.sleep(forTimeInterval: 0.05)
                continue
            }
            asking = false
            guard case .error(let message) = reply else {
                home = target
                return reply
            }
            let words = message.split(separator: " ")
            switch words.first {
            case "MOVED"?, "ASK"?:
                guard words.count == 3, let port = Self.port(of: words[2]) else { return reply }
                lastProblem = message
                asking = words[0] == "ASK"
                target = port
                if !asking { home = port }
            case "TRYAGAIN"?, "CLUSTERDOWN"?:
                lastProblem = "\(target): \(message)"
                Thread.sleep(forTimeInterval: 0.05)
            default:
                home = target
                return reply
            }
        }
    }

    /// The command on every live primary (from the cluster's own view, CLUSTER NODES), in port order.
    func commandOnEveryPrimary(_ arguments: [String], deadline: Deadline) throws -> [RESPValue] {
        let text = try command(["CLUSTER", "NODES"], deadline: deadline)
        guard let nodesText = text.string else { throw HarnessError("CLUSTER NODES answered \(text)") }
        let primaries = try ClusterNodeLine.parse(nodesText).filter { $0.isPrimary && !$0.isFailing }.map(\.port).sorted()
        guard !primaries.isEmpty else { throw HarnessError("no live primary in CLUSTER NODES:\n\(nodesText)") }
        return try primaries.map { port in
            do {
                return try connection(to: port, deadline: deadline).send(arguments, deadline: deadline)
            } catch {
                drop(port)
                throw HarnessError("redis cluster node \(port), \(arguments.prefix(2).joined(separator: " ")): \(error)")
            }
        }
    }

    private func connection(to port: UInt16, deadline: Deadline) throws -> RESPConnection {
        if let open = connections[port] { return open }
        let remaining = max(0.05, Double(deadline.pollMilliseconds) / 1000)
        let connection = try RESPConnection(host: host, port: port, timeout: min(timeout, remaining))
        connections[port] = connection
        return connection
    }

    private func drop(_ port: UInt16) {
        connections.removeValue(forKey: port)?.close()
    }

    private func nextSeed(after port: UInt16) -> UInt16 {
        guard let index = seeds.firstIndex(of: port) else { return seeds[0] }
        return seeds[(index + 1) % seeds.count]
    }

    /// The port of `host:port` (an IPv6 host has colons too: the port is after the last one).
    private static func port(of address: Substring) -> UInt16? {
        guard let colon = address.lastIndex(of: ":") else { return nil }
        return UInt16(address[address.index(after: colon)...])
    }
}
