// ScriptedRedis: in-memory Redis servers for the cluster router's unit tests, put under its
// nodes through the RedisNodeSet's connector. Every connection to an endpoint answers each
// command with `respond(endpoint, command)` (nil: no answer, as a server that hangs), in order
// and later (from the loop), like a real connection. An endpoint in `down` refuses connects.
import XCTest
import RelayIO
@testable import RelayRedis
@testable import RelayStorage

final class ScriptedRedis {
    let loop: EventLoop
    var respond: (RedisEndpoint, [String]) -> RedisReply? = { _, _ in nil }
    var down: Set<String> = []
    /// False: PING goes unanswered too (a server that hangs).
    var answersPing = true
    /// Every command received, in order, with the endpoint and the connection it reached.
    private(set) var received: [(endpoint: RedisEndpoint, command: [String], connection: ObjectIdentifier)] = []
    private var connections: [ScriptedConnection] = []

    init(loop: EventLoop) { self.loop = loop }

    var connector: RedisConnector {
        { [unowned self] endpoint in
            let connection = ScriptedConnection(server: self, endpoint: endpoint)
            self.connections.append(connection)
            return connection
        }
    }

    /// The commands that reached `endpoint`, PINGs and CLUSTER SLOTS left out.
    func commands(to endpoint: RedisEndpoint) -> [[String]] {
        received.filter { $0.endpoint == endpoint && !["PING", "CLUSTER"].contains($0.command.first ?? "") }.map(\.command)
    }

    /// Drops every open connection to `endpoint` (the server closed them).
    func dropConnections(to endpoint: RedisEndpoint) {
        for connection in connections where connection.endpoint == endpoint { connection.serverClosed() }
    }

    fileprivate func handle(_ command: [String], from endpoint: RedisEndpoint, on connection: ScriptedConnection) -> RedisReply? {
        received.append((endpoint, command, ObjectIdentifier(connection)))
        if command == ["PING"] { return answersPing ? .status("PONG") : nil }
        return respond(endpoint, command)
    }

    /// A CLUSTER SLOTS reply: each range served by the primary at that endpoint.
    static func slots(_ ranges: [(ClosedRange<Int>, RedisEndpoint)]) -> RedisReply {
        .array(ranges.map { range, endpoint in
            guard case .tcp(let host, let port) = endpoint else { return .null }
            return .array([.integer(Int64(range.lowerBound)), .integer(Int64(range.upperBound)),
                           .array([.bulk(Array(host.utf8)), .integer(Int64(port)), .bulk(Array("id\(port)".utf8))])])
        })
    }
}

final class ScriptedConnection: RedisConnection {
    var onConnect: ((String?) -> Void)?
    var onDisconnect: ((String?) -> Void)?
    var onReply: ((RedisReply) -> Void)?
    let endpoint: RedisEndpoint
    private unowned let server: ScriptedRedis
    private var open = false
    private var closed = false
    private var queue: [RedisReply] = []
    private var flushing: LoopTimer?

    init(server: ScriptedRedis, endpoint: RedisEndpoint) {
        self.server = server
        self.endpoint = endpoint
    }

    func connect() -> Bool {
        server.loop.after(0) { [self] in
            guard !closed else { return }
            if server.down.contains(endpoint.description) {
                closed = true
                onConnect?("connection refused")
            } else {
                open = true
                onConnect?(nil)
            }
        }
        return true
    }

    func send(_ args: [[UInt8]]) -> Bool {
        guard open else { return false }
        let command = args.map { String(decoding: $0, as: UTF8.self) }
        guard let reply = server.handle(command, from: endpoint, on: self) else { return true }
        queue.append(reply)
        // One flush for everything queued meanwhile: replies leave in order.
        if flushing == nil {
            flushing = server.loop.after(0) { [weak self] in self?.flush() }
        }
        return true
    }

    private func flush() {
        flushing = nil
        while open, !queue.isEmpty {
            onReply?(queue.removeFirst())
        }
    }

    func disconnect() {
        open = false
        closed = true
        queue = []
    }

    func serverClosed() {
        guard open else { return }
        disconnect()
        onDisconnect?(nil)
    }
}
