// IndexSweeper: every few seconds, one bounded step (sweep_indexes.lua) per environment of
// the walk that drops index entries (ext hash, idx:* zsets) of sessions whose row expired.
// The walk's position lives in Redis, so every node advances the same walk: more nodes sweep
// faster, never twice as much per entry. A step examines at most `budget` entries (plus one per
// index visited), a few hundred EXISTS: well under a millisecond of Redis time.
import Logging
import RelayIO
import RelayRedis

public final class IndexSweeper {
    public static let defaultBudget = 500

    /// Totals since start (the metrics report deltas).
    public private(set) var examined = 0
    public private(set) var removed = 0
    public private(set) var passes = 0

    private let redis: any RedisCommands
    private let keys: RedisKeys
    private let environments: [String]
    private let budget: Int
    private let logger: Logger
    private let ticker: Ticker
    /// Steps still awaiting replies: a slow Redis never gets a second step from this node.
    private var pending = 0
    private var failing = false
    /// Per environment, the registered indexes the shared walk is coming to (the script names
    /// them, so the next step can declare them in KEYS).
    private var upcoming: [String: [String]] = [:]

    public init(loop: EventLoop, redis: any RedisCommands, keys: RedisKeys, environments: [String],
                intervalSeconds: Double, budget: Int = IndexSweeper.defaultBudget, logger: Logger) {
        ticker = Ticker(loop: loop, intervalSeconds: intervalSeconds)
        self.redis = redis
        self.keys = keys
        self.environments = environments
        self.budget = budget
        self.logger = logger
    }

    /// Starts the timer; an interval of 0 or less leaves the sweeper off.
    public func start() { ticker.start { [weak self] in self?.step() } }

    public func stop() { ticker.stop() }

    private func step() {
        guard pending == 0, redis.isConnected else { return }
        pending = environments.count
        for env in environments {
            let scriptKeys = [keys.sweepState(environment: env), keys.indexRegistry(environment: env),
                              keys.externalIds(environment: env), keys.indexStates(environment: env)]
                + keys.fixedIndexes(environment: env)
                + (upcoming[env] ?? []).map { keys.index(environment: env, named: $0) }
            let args = [keys.environmentBase(env), String(budget)] + SessionIndex.fixed.map(\.name)
            redis.run(RelayScripts.sweepIndexes, keys: scriptKeys, args) { [weak self] reply in
                guard let self else { return }
                self.pending -= 1
                guard let step = try? SweepIndexesReply(reply) else {
                    // Logged when it starts failing, not on every tick.
                    if !self.failing {
                        self.logger.warning("index sweep failed", metadata: ["environment": "\(env)", "reply": "\(reply)"])
                    }
                    self.failing = true
                    return
                }
                self.failing = false
                self.upcoming[env] = step.upcoming
                self.examined += Int(step.examined)
                self.removed += Int(step.removed)
                self.passes += step.finishedPass ? 1 : 0
            }
        }
    }
}
