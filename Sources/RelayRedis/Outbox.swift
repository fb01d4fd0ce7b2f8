// Outbox: how a change in a session's slot reaches its environment's slot. A script in the
// session's slot that changes what the environment must know (the session's index state, a run
// to dispatch) also puts an entry in its slot's outbox, in the same atomic step. The relay then
// applies the entry in the environment's slot (apply_outbox.lua) and removes it from the outbox.
// If the relay dies between the two, OutboxSweeper finds the entry later and applies it: a
// trigger is never lost, and applying twice changes nothing (docs/cluster.md, Two steps).
import Logging
import RelayCore
import RelayIO

public final class OutboxForwarder {
    private let redis: any RedisCommands
    private let keys: RedisKeys
    private let logger: Logger
    /// Replicas that must confirm an applied entry before it leaves the outbox (the same
    /// setting as appends): a failover of the environment's primary right after the apply must
    /// not lose a run that the outbox no longer holds.
    private let waitReplicas: Int

    public init(redis: any RedisCommands, keys: RedisKeys, waitReplicas: Int = 0, logger: Logger) {
        self.redis = redis
        self.keys = keys
        self.waitReplicas = waitReplicas
        self.logger = logger
    }

    /// Applies `entry` (taken from the outbox `outboxKey`) in its environment's slot, then
    /// removes it from the outbox. `completion(true)` once applied (the removal is not awaited).
    public func forward(_ entry: String, outboxKey: String, _ completion: @escaping (Bool) -> Void = { _ in }) {
        guard let parsed = OutboxEntry(entry) else {
            // Not ours to understand (corrupt): keep it out of every later sweep.
            logger.error("dropping an unreadable outbox entry", metadata: ["entry": "\(entry.prefix(200))"])
            redis.send(key: outboxKey, ["ZREM", outboxKey, entry]) { _ in }
            return completion(false)
        }
        apply(entry, parsed, extraKeys: [], attempts: 3) { [weak self] ok in
            guard let self else { return }
            // Not applied: the entry stays in the outbox for the sweeper.
            if ok { self.redis.send(key: outboxKey, ["ZREM", outboxKey, entry]) { _ in } }
            completion(ok)
        }
    }

    private func apply(_ entry: String, _ parsed: OutboxEntry, extraKeys: [String], attempts: Int,
                       _ completion: @escaping (Bool) -> Void) {
        let env = parsed.environment
        var scriptKeys = [
            keys.indexStates(environment: env), keys.runs(environment: env),
            keys.run(environment: env, run: parsed.runId ?? "-"),
            keys.index(environment: env, "idx:all"), keys.index(environment: env, "idx:open"),
            keys.index(environment: env, "idx:closed"), keys.indexRegistry(environment: env),
        ]
        for name in parsed.indexNames { scriptKeys.append(keys.index(environment: env, name)) }
        scriptKeys += extraKeys
        let args = [entry, keys.environmentBase(env)].map { Array($0.utf8) }
        redis.run(RelayScripts.applyOutbox, keys: scriptKeys.map { Array($0.utf8) }, args, waitReplicas: waitReplicas) { [weak self] reply in
            guard let self else { return }
            if let items = reply.array, items.first?.string == "need", attempts > 1 {
                // The environment holds an older state naming other indexes: declare them too.
                let more = items.dropFirst().compactMap(\.string)
                return self.apply(entry, parsed, extraKeys: extraKeys + more, attempts: attempts - 1, completion)
            }
            let ok = reply.array?.first?.string == "ok"
            if !ok {
                self.logger.warning("outbox entry not applied yet; the sweeper retries",
                                    metadata: ["environment": "\(env)", "reply": "\(reply)"])
            }
            completion(ok)
        }
    }
}

/// The parts of an outbox entry the relay needs to name the entry's keys.
struct OutboxEntry {
    var environment: String
    var runId: String?
    /// idx:type:T, idx:task:T and idx:tag:T of the new index state.
    var indexNames: [String] = []

    init?(_ text: String) {
        guard let value = try? JSONParser.parse(text), let env = value["env"]?.stringValue else { return nil }
        environment = env
        runId = value["run"]?["id"]?.stringValue
        if let ix = value["ix"], ix.objectValue != nil {
            if let type = ix["type"]?.stringValue { indexNames.append("idx:type:\(type)") }
            if let task = ix["task"]?.stringValue { indexNames.append("idx:task:\(task)") }
            // cjson writes an empty list as {}.
            for tag in ix["tags"]?.arrayValue ?? [] {
                if let tag = tag.stringValue { indexNames.append("idx:tag:\(tag)") }
            }
        }
    }
}
