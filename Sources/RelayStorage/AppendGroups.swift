// AppendGroups: group commit for appends. The appends a node is handed in one loop iteration go
// to Redis together when the iteration's callbacks are done: one append_records.lua call per
// group, and each append gets back the reply it would have had alone (append_records.lua runs
// them in order, each with its own checks, seq and live message).
// - A group: on a single instance every append (a script may touch any key); in a cluster one
//   per session, so a busy channel's appends still travel together, and the groups of one
//   primary leave in one write (RespConnection flushes once per iteration). Not one per slot:
//   during a migration a slot's sessions move one by one, and a call naming keys of a moved
//   session and of one still here is refused (TRYAGAIN) for all of them.
// - Order: a write to a session that does not go through a group (a close, an update, an S2
//   batch) first sends the appends waiting (`flush`), so it never overtakes an append the node
//   received before it.
// - A Redis that refuses a group for spanning slots (CROSSSLOT: a `redis://` URL naming a
//   cluster node) gets each of its appends again alone.
// - Latency: a lone append leaves in the iteration it arrived in, as it did alone. Under load
//   an iteration carries many, and Redis pays the script call, the clock, the replication ID
//   and the round trip once per group instead of once per append.
// - Caps: a call carries at most `maxAppends` appends or about `maxBytes` of arguments; a
//   bigger group is cut into several calls, sent in order on the same connection.
// - Failure: a reply that is not one answer per append (a lost connection, a redirection the
//   router gave up on, a WAIT that timed out) is every member's reply, as it would have been
//   for each alone.
import RelayIO
import RelayRedis

final class AppendGroups {
    /// One append: its KEYS (meta, stream, outbox, and the X-Part-Id key if any) and its nine
    /// arguments (see append_records.lua).
    struct Append {
        var keys: [[UInt8]]
        var args: [[UInt8]]
        var unconfirmed: (RedisReply) -> Void
        var completion: (RedisReply) -> Void

        var size: Int { keys.reduce(0) { $0 + $1.count } + args.reduce(0) { $0 + $1.count } }
    }

    static let maxAppends = 128
    static let maxBytes = 1 << 20

    private let redis: any RedisCommands
    /// append_records.lua's first three arguments (the same for every call of this store).
    private let shared: [[UInt8]]
    private let waitReplicas: Int
    /// Appends waiting for the end of the iteration, by group (the session's meta key in a
    /// cluster, [] on a single instance).
    private var waiting: [[UInt8]: [Append]] = [:]
    private var flushTask: LoopTask?
    /// Script calls made and appends they carried (/metrics: how well appends share calls).
    private(set) var calls = 0
    private(set) var appendsSent = 0

    init(loop: EventLoop, redis: any RedisCommands, settings: ChannelSettings) {
        self.redis = redis
        waitReplicas = settings.waitReplicas
        shared = [Array(String(settings.dedupWindowSeconds).utf8), Array(String(settings.maxRecordsPerChannel).utf8),
                  settings.waitReplicas > 0 ? [0x31] : [0x30]]
        flushTask = LoopTask(loop: loop) { [unowned self] in self.flush() }
    }

    /// Queues an append for the end of this loop iteration. `keys[0]` is the session's meta key.
    func submit(_ append: Append) {
        waiting[redis.scriptsSpanSlots ? [] : append.keys[0], default: []].append(append)
        flushTask?.schedule()
    }

    /// Sends every waiting append now (before another write that must not overtake them).
    func flush() {
        guard !waiting.isEmpty else { return }
        let groups = waiting
        waiting = [:]
        for (_, appends) in groups {
            var start = 0, bytes = 0
            for (index, append) in appends.enumerated() {
                bytes += append.size
                if index + 1 == appends.count || index + 1 - start == Self.maxAppends || bytes >= Self.maxBytes {
                    send(Array(appends[start...index]))
                    start = index + 1
                    bytes = 0
                }
            }
        }
    }

    private func send(_ appends: [Append]) {
        calls += 1
        appendsSent += appends.count
        var keys: [[UInt8]] = []
        var args = shared + [Array(String(appends.count).utf8)]
        keys.reserveCapacity(4 * appends.count)
        args.reserveCapacity(args.count + 9 * appends.count)
        for append in appends {
            keys += append.keys
            args += append.args
        }
        redis.run(RelayScripts.appendRecords, keys: keys, args, waitReplicas: waitReplicas,
                  unconfirmed: { reply in
                      for (append, own) in zip(appends, Self.split(reply, count: appends.count)) { append.unconfirmed(own) }
                  }) { [weak self] reply in
            if appends.count > 1, let message = reply.errorMessage, message.hasPrefix("CROSSSLOT"), let self {
                for append in appends { self.send([append]) }
                return
            }
            for (append, own) in zip(appends, Self.split(reply, count: appends.count)) { append.completion(own) }
        }
    }

    /// Each append's own reply: its element of the group's reply ({ "error", message } becomes
    /// that error), or the whole reply for all when it is not one element per append.
    static func split(_ reply: RedisReply, count: Int) -> [RedisReply] {
        guard case .array(let items) = reply, items.count == count else { return Array(repeating: reply, count: count) }
        return items.map { item in
            if case .array(let parts) = item, parts.count == 2, parts[0].string == "error", let message = parts[1].string {
                return .error(message)
            }
            return item
        }
    }
}
