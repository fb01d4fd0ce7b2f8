// OutboxSweeper: finds outbox entries that a relay left behind (it died between a session's
// step and the environment's step) and forwards them. Every node asks each tick for the next
// range of slots (outbox_cursor.lua), and Redis hands out at most one range per tick interval
// for the whole deployment: the walk costs the same (1,024 outboxes a second by default, all
// 16,384 in 16 s) with one node or fifty, and goes on while any node is up. An entry is taken
// once it is `graceMilliseconds` old, so the relay that wrote it has had its chance first.
import Logging
import RelayIO
import RelayRedis

public final class OutboxSweeper {
    public static let defaultSlotsPerTick = 1024
    public static let graceMilliseconds: Int64 = 10_000

    private let redis: any RedisCommands
    private let keys: RedisKeys
    private let forwarder: OutboxForwarder
    private let slotsPerTick: Int
    private let logger: Logger
    private let ticker: Ticker
    private var pending = 0

    public init(loop: EventLoop, redis: any RedisCommands, keys: RedisKeys, forwarder: OutboxForwarder,
                intervalSeconds: Double, slotsPerTick: Int = OutboxSweeper.defaultSlotsPerTick, logger: Logger) {
        ticker = Ticker(loop: loop, intervalSeconds: intervalSeconds)
        self.redis = redis
        self.keys = keys
        self.forwarder = forwarder
        self.slotsPerTick = slotsPerTick
        self.logger = logger
    }

    /// Starts the timer; an interval of 0 or less leaves the sweeper off.
    public func start() { ticker.start { [weak self] in self?.tick() } }

    public func stop() { ticker.stop() }

    /// One tick: claim the next range of slots and look at their outboxes.
    public func tick(_ done: @escaping () -> Void = {}) {
        guard pending == 0, redis.isConnected else { return done() }
        pending = 1
        let cursor = keys.outboxSweepCursor
        let interval = String(Int(ticker.intervalSeconds * 1000 * 0.9))
        redis.run(RelayScripts.outboxCursor, keys: [cursor], [String(slotsPerTick), interval]) { [weak self] reply in
            guard let self else { return }
            // Too soon, or no answer: the next tick asks again.
            guard case .range(let first)? = try? OutboxCursorReply(reply) else {
                self.pending = 0
                return done()
            }
            self.sweep(slots: (0..<self.slotsPerTick).map { (first + $0) % ClusterSlot.count }, done)
        }
    }

    /// Looks at the outboxes of `slots` (also used by tests to sweep chosen slots at once).
    public func sweep(slots: [Int], _ done: @escaping () -> Void = {}) {
        let before = String(Clock.nowMilliseconds() - OutboxSweeper.graceMilliseconds)
        pending = slots.count
        guard !slots.isEmpty else { return done() }
        for slot in slots {
            let outbox = keys.outbox(slot: slot)
            redis.send(key: outbox, ["ZRANGEBYSCORE", outbox, "-inf", "(" + before, "LIMIT", "0", "20"]) { [weak self] reply in
                guard let self else { return }
                for entry in (reply.array ?? []).compactMap(\.string) {
                    self.logger.info("forwarding an outbox entry left behind", metadata: ["outbox": "\(outbox)"])
                    self.forwarder.forward(entry, outboxKey: outbox)
                }
                self.pending -= 1
                if self.pending == 0 { done() }
            }
        }
    }
}
