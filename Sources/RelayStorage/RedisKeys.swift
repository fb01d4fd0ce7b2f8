// RedisKeys: the names of every key the relay touches, and the only place they are spelled (the
// layout is documented in Lua/lib.lua and docs/cluster.md). A script is always handed its keys
// here, in KEYS, never builds them: that is what lets a cluster route it, and every script's keys
// share one slot, either the session's ({s:<id>}) or the environment's ({env:<id>}). The one
// exception is an index whose name a script reads from stored data (an index state, the
// registry): the script joins the environment's base and the name, and is handed both from here
// (`environmentBase`, `SessionIndex`).
import RelayCore
import RelayRedis

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

    /// The example echo worker's cursor on a session's `.in` channel (relay-echo-worker).
    public func echoCursor(session: String) -> String { "\(prefix)echo:{s:\(session)}:in-cursor" }

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
    public func index(environment: String, _ index: SessionIndex) -> String { self.index(environment: environment, named: index.name) }
    /// An index by the name the registry (or a script's reply) holds.
    public func index(environment: String, named name: String) -> String { environmentBase(environment) + name }
    /// idx:all, idx:open and idx:closed, in that order (every script that reads or writes the
    /// indexes declares them in KEYS in this order).
    public func fixedIndexes(environment: String) -> [String] { SessionIndex.fixed.map { index(environment: environment, $0) } }
    public func indexRegistry(environment: String) -> String { environmentBase(environment) + "indexes" }
    public func sweepState(environment: String) -> String { environmentBase(environment) + "sweep" }

    // MARK: Shared by the deployment

    /// The shared position of the outbox sweep (OutboxSweeper).
    public var outboxSweepCursor: String { "\(prefix){outbox}:cursor" }

    // MARK: The status page's slot ({status}, StatusStore)

    /// A node's latest heartbeat (string, JSON, with a TTL).
    public func statusNode(_ node: String) -> String { "\(prefix){status}:node:\(node)" }
    /// The names of the nodes that wrote a heartbeat lately (sorted set, scored by time).
    public var statusNodes: String { "\(prefix){status}:nodes" }
    /// The pub/sub channel of one process's latency probe (`instance` is random per process).
    public func statusProbe(_ instance: String) -> String { "\(prefix){status}:probe:\(instance)" }
}

/// An index of an environment's sessions: a zset of "<15-digit createdAt ms>:<SID>" members at
/// the environment's base plus `name`. The registry (`RedisKeys.indexRegistry`) and the index
/// sweeper's stored position hold these names, so a name never changes.
public enum SessionIndex: Hashable, Sendable {
    case all, open, closed
    case type(String), task(String), tag(String)

    public static let fixed: [SessionIndex] = [.all, .open, .closed]

    /// The start of the per-value indexes' names; a script that derives an index from a stored
    /// value (apply_outbox.lua) is handed these.
    public static let typePrefix = "idx:type:"
    public static let taskPrefix = "idx:task:"
    public static let tagPrefix = "idx:tag:"

    public var name: String {
        switch self {
        case .all: return "idx:all"
        case .open: return "idx:open"
        case .closed: return "idx:closed"
        case .type(let value): return SessionIndex.typePrefix + value
        case .task(let value): return SessionIndex.taskPrefix + value
        case .tag(let value): return SessionIndex.tagPrefix + value
        }
    }
}
