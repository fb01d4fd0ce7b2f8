// The example worker of docs/API.md, Runs: an echo agent. It reads run requests from the
// environment's dispatch stream with the consumer group, follows each run's session `.in`
// over SSE, answers every record with {"type":"text","text":"echo: <text>"} on `.out` and a
// turn-complete control record, and completes the run after idleTimeoutInSeconds of silence.
import Logging
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

struct EchoWorkerConfig {
    var relayHost: String
    var relayPort: UInt16
    var redis: RedisTarget
    var environmentId: String
    var secretKey: String
    var keyPrefix: String
    var consumer: String
    var defaultIdleTimeout: Int
}

final class EchoWorker {
    private let loop: EventLoop
    private let config: EchoWorkerConfig
    private let logger: Logger
    /// Blocking reads of the dispatch stream get a connection of their own.
    private let dispatch: any RedisCommands
    private let redis: any RedisCommands
    private let api: HTTPClient
    private var runs: [String: RunFollower] = [:]
    private var reading = false

    init(loop: EventLoop, config: EchoWorkerConfig, logger: Logger) {
        self.loop = loop
        self.config = config
        self.logger = logger
        dispatch = Self.commands(loop: loop, target: config.redis, logger: logger)
        redis = Self.commands(loop: loop, target: config.redis, logger: logger)
        api = HTTPClient(loop: loop, host: config.relayHost, port: config.relayPort)
    }

    /// One instance, or a cluster routed by key (the runs stream, the cursor keys).
    private static func commands(loop: EventLoop, target: RedisTarget, logger: Logger) -> any RedisCommands {
        switch target {
        case .single(let endpoint): return RedisClient(loop: loop, endpoint: endpoint, logger: logger)
        case .cluster(let seeds):
            return ClusterClient(loop: loop, seeds: seeds, options: RedisNodeOptions(subscriptions: false), logger: logger)
        }
    }

    var stream: String { RedisKeys(prefix: config.keyPrefix).runs(environment: config.environmentId) }

    func start() {
        dispatch.onConnected.append { [weak self] in self?.createGroupThenRead() }
        dispatch.start()
        redis.start()
    }

    /// Creates the consumer group if needed (BUSYGROUP: it exists), then reads.
    private func createGroupThenRead() {
        dispatch.send(key: stream, ["XGROUP", "CREATE", stream, RedisKeys.runConsumerGroup, "0", "MKSTREAM"]) { [weak self] reply in
            guard let self else { return }
            if let message = reply.errorMessage, !message.hasPrefix("BUSYGROUP") {
                self.logger.error("cannot create the run consumer group", metadata: ["error": "\(message)"])
            }
            self.readRuns()
        }
    }

    /// XREADGROUP in a loop: first our own pending entries (after a restart), then new ones.
    private func readRuns(pendingFirst: Bool = true) {
        guard !reading else { return }
        reading = true
        dispatch.send(key: stream, ["XREADGROUP", "GROUP", RedisKeys.runConsumerGroup, config.consumer, "COUNT", "16",
                       "BLOCK", "1000", "STREAMS", stream, pendingFirst ? "0" : ">"]) { [weak self] reply in
            guard let self else { return }
            self.reading = false
            if case .failure = reply {
                // Redis is away: the connected hook starts reading again.
                return
            }
            if let message = reply.errorMessage {
                // Redis answered with an error (the group was deleted, the key replaced...):
                // say so, recreate the group and try again shortly instead of stopping for good.
                self.logger.error("reading runs failed; retrying in 1 s", metadata: ["error": "\(message)"])
                self.loop.after(1) { [weak self] in self?.createGroupThenRead() }
                return
            }
            let entries = reply.array?.first?.array?.dropFirst().first?.array ?? []
            for entry in entries { self.accept(entry) }
            self.readRuns(pendingFirst: pendingFirst && !entries.isEmpty)
        }
    }

    private func accept(_ entry: RedisReply) {
        guard let parts = entry.array, parts.count == 2, let entryId = parts[0].string else { return }
        let fields = parts[1].fieldDictionary()
        guard let runId = fields["runId"], let sessionId = fields["sessionId"] else { return }
        var idle = config.defaultIdleTimeout
        if let payload = fields["payload"], let json = try? JSONParser.parse(payload),
           case .number(let text)? = json["idleTimeoutInSeconds"], let seconds = Int(text) {
            idle = seconds
        }
        logger.info("run started", metadata: ["run": "\(runId)", "session": "\(sessionId)", "idleTimeout": "\(idle)"])
        let follower = RunFollower(worker: self, runId: runId, sessionId: sessionId, idleTimeout: min(max(idle, 1), 600))
        runs[runId] = follower
        follower.start()
        dispatch.send(key: stream, ["XACK", stream, RedisKeys.runConsumerGroup, entryId]) { _ in }
    }

    fileprivate var authorization: (String, String) { ("Authorization", "Bearer \(config.secretKey)") }
    fileprivate var relayHost: String { config.relayHost }
    fileprivate var relayPort: UInt16 { config.relayPort }
    fileprivate var client: HTTPClient { api }
    fileprivate var commands: any RedisCommands { redis }
    fileprivate var eventLoop: EventLoop { loop }
    fileprivate var log: Logger { logger }
    fileprivate func cursorKey(_ session: String) -> String { RedisKeys(prefix: config.keyPrefix).echoCursor(session: session) }

    fileprivate func finished(_ runId: String) { runs[runId] = nil }
}

/// Follows one run: reads `.in` from where the last run of the session stopped, answers each
/// record in order, and completes the run when the stream idles out or the session closes.
private final class RunFollower {
    private unowned let worker: EchoWorker
    let runId: String
    let sessionId: String
    let idleTimeout: Int
    private var parser = SSEParser()
    private var queue: [(seq: String, text: String)] = []
    private var busy = false
    private var streamEnded = false
    private var streamClient: HTTPClient?
    private var stream: HTTPClientStream?

    init(worker: EchoWorker, runId: String, sessionId: String, idleTimeout: Int) {
        self.worker = worker
        self.runId = runId
        self.sessionId = sessionId
        self.idleTimeout = idleTimeout
    }

    func start() {
        worker.commands.send(key: worker.cursorKey(sessionId), ["GET", worker.cursorKey(sessionId)]) { [self] reply in
            let after = reply.string ?? "0"
            let client = HTTPClient(loop: worker.eventLoop, host: worker.relayHost, port: worker.relayPort,
                                    timeoutSeconds: Int32(idleTimeout + 30))
            streamClient = client
            stream = client.stream("/realtime/v1/sessions/\(sessionId)/in",
                                   headers: [worker.authorization, ("Timeout-Seconds", String(idleTimeout)), ("Last-Event-ID", after)],
                                   onHeaders: { _ in },
                                   onChunk: { [self] bytes in
                                       for event in parser.feed(bytes) where event.comment == nil { enqueue(event) }
                                   },
                                   onEnd: { [self] _ in
                                       streamEnded = true
                                       next()
                                   })
        }
    }

    private func enqueue(_ event: SSEEvent) {
        // Data records only: not `gap`, `lost` (records Redis lost: nothing to answer) or `control`.
        guard event.event == nil, let seq = event.id, let record = try? JSONParser.parse(event.data) else { return }
        let data = record["data"]
        let text: String
        switch data {
        case .string(let s)?: text = s
        case .object?: text = data?["text"]?.stringValue ?? data!.serialized()
        case let other?: text = other.serialized()
        case nil: return
        }
        queue.append((seq, text))
        next()
    }

    /// One record at a time: echo, then turn-complete, then remember the position.
    private func next() {
        guard !busy else { return }
        guard !queue.isEmpty else {
            if streamEnded { complete() }
            return
        }
        busy = true
        let (seq, text) = queue.removeFirst()
        var reply = JSONObjectWriter()
        reply.string("type", "text")
        reply.string("text", "echo: \(text)")
        let base = "/realtime/v1/sessions/\(sessionId)/out"
        worker.client.request(.post, base + "/append",
                              headers: [worker.authorization, ("Content-Type", "application/json"), ("X-Part-Id", "echo-\(seq)")],
                              body: Array(reply.finish().utf8)) { [self] response in
            guard response.status == 200 else { return failed("append", response.status) }
            worker.client.request(.post, base + "/control", headers: [worker.authorization, ("Content-Type", "application/json")],
                                  body: Array(#"{"subtype":"turn-complete"}"#.utf8)) { [self] response in
                guard response.status == 200 else { return failed("control", response.status) }
                worker.commands.send(key: worker.cursorKey(sessionId), ["SET", worker.cursorKey(sessionId), seq]) { [self] _ in
                    busy = false
                    next()
                }
            }
        }
    }

    private func failed(_ what: String, _ status: Int) {
        worker.log.warning("echo failed", metadata: ["run": "\(runId)", "step": "\(what)", "status": "\(status)"])
        busy = false
        queue.removeAll()
        stream?.cancel()
        complete()
    }

    private func complete() {
        worker.client.request(.post, "/api/v1/runs/\(runId)/complete", headers: [worker.authorization]) { [self] response in
            worker.log.info("run completed", metadata: ["run": "\(runId)", "status": "\(response.status)"])
            worker.finished(runId)
        }
    }
}
