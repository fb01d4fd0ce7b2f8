// ClusterProbe: one command on a connection of its own, with a deadline, then hang up. The
// router asks nodes it holds no ready node for (seeds, replicas, a primary that is down) for
// the slot map this way, without making a RedisNode for them.
import RelayIO

final class ClusterProbe {
    private let connection: any RedisConnection
    private var completion: ((RedisReply) -> Void)?
    private var timer: LoopTimer?

    /// `completion` runs once, later, from the loop: the reply, or `.failure(.notConnected)` /
    /// `.connectionLost` / `.timedOut` (no answer within `timeoutSeconds`).
    static func query(loop: EventLoop, connection: any RedisConnection, _ args: [String], timeoutSeconds: Double,
                      _ completion: @escaping (RedisReply) -> Void) {
        let probe = ClusterProbe(connection: connection, completion)
        // The timer's and the connection's closures keep the probe alive until it finishes;
        // `finish` breaks the cycle.
        probe.timer = loop.after(timeoutSeconds) { probe.finish(.failure(.timedOut)) }
        probe.connection.onConnect = { error in
            if error != nil { return probe.finish(.failure(.notConnected)) }
            if !probe.connection.send(args.map { Array($0.utf8) }) { probe.finish(.failure(.notSent)) }
        }
        probe.connection.onDisconnect = { _ in probe.finish(.failure(.connectionLost)) }
        probe.connection.onReply = { probe.finish($0) }
        if !probe.connection.connect() {
            loop.after(0) { probe.finish(.failure(.notConnected)) }
        }
    }

    private init(connection: any RedisConnection, _ completion: @escaping (RedisReply) -> Void) {
        self.connection = connection
        self.completion = completion
    }

    private func finish(_ reply: RedisReply) {
        guard let completion else { return }
        self.completion = nil
        timer?.cancel()
        timer = nil
        // Closing is safe inside the connection's own callbacks and reports nothing.
        connection.disconnect()
        connection.onConnect = nil
        connection.onDisconnect = nil
        connection.onReply = nil
        completion(reply)
    }
}
