// ClusterProbe: one command on a connection of its own, with a deadline, then hang up. The
// router asks nodes it holds no command connection to (seeds, replicas, a primary whose
// connection is down) for the slot map this way.
import RelayIO

final class ClusterProbe {
    private let connection: RedisConnection
    private var completion: ((RedisReply) -> Void)?
    private var timer: LoopTimer?

    /// `completion` runs once: the reply, or `.failure(.notConnected)` / `.connectionLost` /
    /// `.timedOut` (no answer within `timeoutSeconds`).
    static func query(loop: EventLoop, endpoint: RedisEndpoint, _ args: [String], timeoutSeconds: Double,
                      _ completion: @escaping (RedisReply) -> Void) {
        let probe = ClusterProbe(loop: loop, endpoint: endpoint, completion)
        // The timer's closure keeps the probe alive until it finishes.
        probe.timer = loop.after(timeoutSeconds) { probe.finish(.failure(.timedOut), hangUpNow: true) }
        probe.connection.onConnect = { error in
            if error != nil { return probe.finish(.failure(.notConnected)) }
            probe.connection.send(args) { probe.finish($0) }
        }
        probe.connection.onDisconnect = { _ in probe.finish(.failure(.connectionLost)) }
        probe.connection.connect()
    }

    private init(loop: EventLoop, endpoint: RedisEndpoint, _ completion: @escaping (RedisReply) -> Void) {
        connection = RedisConnection(loop: loop, endpoint: endpoint)
        self.completion = completion
    }

    /// `hangUpNow`: drop the connection without waiting for the pending reply (never from
    /// inside a hiredis callback).
    private func finish(_ reply: RedisReply, hangUpNow: Bool = false) {
        guard let completion else { return }
        self.completion = nil
        timer?.cancel()
        timer = nil
        // Break the probe ↔ connection cycle. A connect still under way cannot be cancelled
        // (hiredis): if it succeeds late, hang up then.
        connection.onDisconnect = nil
        connection.onConnect = { [weak connection] error in
            if error == nil { connection?.disconnect() }
        }
        if connection.isConnected {
            if hangUpNow { connection.abort() } else { connection.disconnect() }
        }
        completion(reply)
    }
}
