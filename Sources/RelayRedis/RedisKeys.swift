// RedisKeys: the names of every key the relay touches (the layout is documented in Lua/lib.lua
// and docs/cluster.md). A script is always handed its keys here, in KEYS, never builds them:
// that is what lets a cluster route it, and every script's keys share one slot, either the
// session's ({s:<id>}) or the environment's ({env:<id>}).
import RelayCore

public struct RedisKeys: Sendable {
    public let prefix: String
    public init(prefix: String) { self.prefix = prefix }

    // MARK: A session's slot

    /// A session's row (hash).
    public func sessionMeta(_ session: String) -> String { "\(prefix){s:\(session)}:meta" }

    /// A channel's stream; its live (sharded) pub/sub channel has the same name.
    public func channel(session: String, io: ChannelIO) -> String { "\(prefix){s:\(session)}:\(io.rawValue)" }

    /// The dedup key of an X-Part-Id append.
    public func part(session: String, io: ChannelIO, partId: String) -> String {
        "\(prefix){s:\(session)}:part:\(io.rawValue):\(partId)"
    }

    /// The outbox of the slot a session lives in (a key of that same slot).
    public func outbox(session: String) -> String { outbox(slot: ClusterSlot.of("s:\(session)")) }
    public func outbox(slot: Int) -> String { "\(prefix){\(ClusterSlot.outboxTag(slot))}:outbox" }

    // MARK: An environment's slot

    /// "P{env:ENV}:": every environment key is this plus a suffix (scripts check that the
    /// index keys they derive from it were declared).
    public func environmentBase(_ environment: String) -> String { "\(prefix){env:\(environment)}:" }

    /// The run dispatch stream of an environment; workers read it with `runConsumerGroup`.
    public func runs(environment: String) -> String { environmentBase(environment) + "runs" }
    public static let runConsumerGroup = "relay-workers"

    public func run(environment: String, run: String) -> String { environmentBase(environment) + "run:\(run)" }
    public func externalIds(environment: String) -> String { environmentBase(environment) + "ext" }
    public func indexStates(environment: String) -> String { environmentBase(environment) + "ix" }
    public func index(environment: String, _ name: String) -> String { environmentBase(environment) + name }
    public func indexRegistry(environment: String) -> String { environmentBase(environment) + "indexes" }
    public func sweepState(environment: String) -> String { environmentBase(environment) + "sweep" }

    /// The shared position of the outbox sweep (OutboxSweeper).
    public var outboxSweepCursor: String { "\(prefix){outbox}:cursor" }
}
