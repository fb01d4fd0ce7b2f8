// CommandLane: request/reply commands on one of a RedisNode's connections. Redis answers in
// order, so the replies complete the pending commands oldest first (a PendingQueue). The node
// owns the connection, decides when it is up or down and calls `attach` / `detach`; this only
// matches replies to completions and says whether the oldest command is past the time it was
// allowed (the node's liveness verdict reads it).
import Metrics
import RelayIO

final class CommandLane {
    typealias Completion = (RedisReply) -> Void

    private var connection: (any RedisConnection)?
    /// Each with when it must have been answered (sent + its allowance).
    private var pending = PendingQueue<(sentAt: Double, answerBy: Double, completion: Completion)>()
    /// When this lane last received a reply (or was attached).
    private(set) var lastReceived = 0.0
    /// Round-trip time of every command (a histogram in Prometheus).
    private let latency = Metrics.Timer(label: "relay_redis_command_duration_seconds")

    var hasPending: Bool { !pending.isEmpty }
    /// How long the oldest unanswered command has waited, if it is past its allowance.
    func overdue(now: Double) -> Double? {
        guard let oldest = pending.first, now > oldest.answerBy else { return nil }
        return now - oldest.sentAt
    }

    func attach(_ connection: any RedisConnection) {
        self.connection = connection
        lastReceived = Clock.monotonicSeconds()
    }

    /// The connection is gone: every pending command completes with `failure`, oldest first.
    func detach(_ failure: RedisFailure) {
        connection = nil
        for command in pending.removeAll() { command.completion(.failure(failure)) }
    }

    /// Sends a command that Redis must answer within `allowance` seconds (else the node
    /// fails); without a connection it answers `.failure(.notConnected)` at once. A connection
    /// that refuses the bytes is going away: the command answers `.connectionLost` (it may
    /// have been queued; it is never resent).
    func send(_ args: [[UInt8]], allowance: Double, _ completion: @escaping Completion) {
        guard let connection else { return completion(.failure(.notConnected)) }
        let sentAt = Clock.monotonicSeconds()
        let latency = self.latency
        pending.append((sentAt, sentAt + allowance, { reply in
            latency.recordNanoseconds(Int64((Clock.monotonicSeconds() - sentAt) * 1e9))
            completion(reply)
        }))
        if !connection.send(args) {
            _ = pending.popLast()
            completion(.failure(.connectionLost))
        }
    }

    /// A reply from the connection. False: nothing was pending (the two sides disagree).
    func received(_ reply: RedisReply) -> Bool {
        lastReceived = Clock.monotonicSeconds()
        guard let command = pending.popFirst() else { return false }
        command.completion(reply)
        return true
    }
}
