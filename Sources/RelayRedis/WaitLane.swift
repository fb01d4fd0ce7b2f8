// WaitLane: the writes that replicas must confirm (RELAY_REDIS_WAIT_REPLICAS), on a connection
// of their own to the primary, each followed by a WAIT.
//
// Why a connection of their own: WAIT blocks the connection it is sent on. Redis answers
// nothing else sent there until WAIT returns, which is its full timeout when a replica lags or
// is missing (as right after a failover: the promoted replica has none). On the shared command
// connection every read and write of the shard queued behind it, a few WAITs in a row outlasted
// the watchdog, and the drop failed every command in flight. WAIT only counts the writes made
// on its own connection, so the writes come here too, not just the WAIT.
//
// Group commit: one WAIT in flight at a time. Writes whose replies arrive meanwhile share the
// next one (a WAIT covers every earlier write of its connection), so a burst of writes costs
// one WAIT. A write sent while a WAIT runs waits behind it in Redis; the next WAIT's timeout is
// what is left of the WAIT timeout counted from the group's oldest write, so with a lagging
// replica every write answers `.notReplicated` about one WAIT timeout after it was sent (the
// replica has not confirmed writes that old: failing the younger ones of the group early is
// fair). The watchdog of this connection allows for one WAIT ahead (command + WAIT timeout).
import Logging
import RelayIO

final class WaitLane {
    let client: RedisClient
    /// Writes whose replies are in, waiting for the next WAIT: how many replicas each needs.
    private var waiting: [(replicas: Int, sent: Int64, done: (Bool) -> Void)] = []
    private var waitInFlight = false

    var commandTimeoutSeconds = 2.0 { didSet { updateWatchdog() } }
    var waitTimeoutMilliseconds = 1000 { didSet { updateWatchdog() } }

    init(loop: EventLoop, endpoint: RedisEndpoint, logger: Logger) {
        client = RedisClient(loop: loop, endpoint: endpoint, logger: logger, role: "replicated writes")
        updateWatchdog()
    }

    func start() { client.start() }
    func stop() { client.stop() }

    /// Runs the script here; a successful reply is held until a WAIT sent after it answers.
    /// `written` runs when the script's successful reply is in (its WAIT follows).
    /// `completion(reply, confirmed)`: `confirmed` is false when fewer than `replicas` replicas
    /// confirmed in time (only ever for a successful reply).
    func run(_ script: LuaScript, keys: [[UInt8]], _ args: [[UInt8]], replicas: Int, asking: Bool,
             written: (() -> Void)? = nil, _ completion: @escaping (RedisReply, Bool) -> Void) {
        let sent = Clock.monotonicNanoseconds()
        client.evaluate(script, keys, args, asking: asking) { [weak self] reply in
            guard let self, reply.errorMessage == nil else { return completion(reply, true) }
            written?()
            self.waiting.append((replicas, sent, { completion(reply, $0) }))
            self.flush()
        }
    }

    private func flush() {
        guard !waitInFlight, !waiting.isEmpty else { return }
        let group = waiting
        waiting = []
        waitInFlight = true
        // The group shares one WAIT for the most replicas any member needs (in practice they
        // all need the same: the setting is per process).
        let count = group.map(\.replicas).max() ?? 1
        let oldest = group.map(\.sent).min() ?? Clock.monotonicNanoseconds()
        let waited = Int((Clock.monotonicNanoseconds() - oldest) / 1_000_000)
        // At least 1 ms: WAIT with timeout 0 blocks for ever.
        let timeout = max(1, waitTimeoutMilliseconds - waited)
        client.send(["WAIT", String(count), String(timeout)]) { [weak self] reply in
            // No integer (an error, a lost connection): nobody confirmed.
            let confirmed = reply.int ?? -1
            self?.waitInFlight = false
            for member in group { member.done(confirmed >= Int64(member.replicas)) }
            self?.flush()
        }
    }

    private func updateWatchdog() {
        client.commandTimeoutSeconds = commandTimeoutSeconds + Double(waitTimeoutMilliseconds) / 1000
    }
}
