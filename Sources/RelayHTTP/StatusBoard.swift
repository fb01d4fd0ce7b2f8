// StatusBoard: this node's part of the live status page.
//  - Every second it measures a Redis PING and writes a heartbeat (StatusStore): connections,
//    subscribers, channels, append and delivery rates and totals, the pub/sub probe's p99, the
//    PING, version, uptime. Only counts and timings: no session, externalId, token or key.
//  - Five times a second it publishes a probe on its own pub/sub channel and times its arrival
//    on the node's pub/sub connection (the one live records come in on): the Redis leg of
//    append→delivery (see `pubsubP99Ms` in docs).
//  - It serves /status/stream: one read of every node's heartbeat per second, framed once,
//    written to every open status stream (at most `maxStreams` per node).
import Logging
import RelayCore
import RelayIO
import RelayRedis
import RelayStorage

public enum RelayVersion {
    /// The relay's version, reported in heartbeats.
    public static let current = "0.1.0-dev"
}

public struct StatusSettings: Sendable {
    /// Accepted (besides secret keys) on /status.json and /status/stream; empty: none.
    public var token: String
    /// The name this node's heartbeat is kept under; nil: the server's `nodeName`. Names must
    /// differ between live processes (two processes with one name overwrite each other's row).
    public var nodeName: String?
    public var heartbeatIntervalSeconds: Double
    /// TTL of a heartbeat key: a node that stops drops off the page within this long.
    public var ttlSeconds: Int
    /// Open /status/stream responses per node; more get a 503.
    public var maxStreams: Int
    /// A status stream ends (cleanly) after this long; EventSource reconnects and authenticates again.
    public var streamLifetimeSeconds: Double

    public init(token: String = "", nodeName: String? = nil, heartbeatIntervalSeconds: Double = 1, ttlSeconds: Int = 5, maxStreams: Int = 100,
                streamLifetimeSeconds: Double = 900) {
        self.token = token
        self.nodeName = nodeName
        self.heartbeatIntervalSeconds = heartbeatIntervalSeconds
        self.ttlSeconds = ttlSeconds
        self.maxStreams = maxStreams
        self.streamLifetimeSeconds = streamLifetimeSeconds
    }
}

public final class StatusBoard {
    static let probeIntervalSeconds = 0.2
    static let probeWindowSeconds = 60.0
    /// A status stream further behind than this is dropped (it reconnects).
    static let maxUnsentBytes = 256 * 1024

    let settings: StatusSettings
    let store: StatusStore
    private weak var server: RelayServer?
    private let loop: EventLoop
    private let pubsub: PubSubChannels
    private let logger: Logger
    private let startedAt = Clock.monotonicSeconds()
    private var heartbeatTimer: LoopTimer?
    private var probeTimer: LoopTimer?
    private var ticking = false
    private var draining = false
    private var readFailing = false

    // Rates: the totals at the previous heartbeat.
    private var last: (at: Double, appended: Int, delivered: Int)?
    /// The heartbeat this node wrote last (the stream's fallback when Redis cannot be read).
    private(set) var lastHeartbeat: [UInt8]?

    // The probe.
    private let probeChannel: String
    private var probeSubscribed = false
    private var probeGeneration = 0
    /// (monotonic seconds at arrival, round trip in ms), oldest first, the last minute.
    private var probeSamples: [(at: Double, ms: Double)] = []

    // Streams.
    private var streams: [ObjectIdentifier: HTTPExchange] = [:]
    private var streamTimers: [ObjectIdentifier: LoopTimer] = [:]
    public var streamCount: Int { streams.count }

    init(server: RelayServer, settings: StatusSettings) {
        self.server = server
        self.settings = settings
        loop = server.hub.loop
        pubsub = server.hub.pubsub
        logger = server.logger
        store = StatusStore(redis: server.redis, prefix: server.store.keys.prefix, ttlSeconds: settings.ttlSeconds)
        probeChannel = store.probeChannel(String(FriendlyID.request().suffix(16)))
    }

    /// Starts the heartbeat and the probe (they write to Redis and subscribe on pub/sub).
    public func start() {
        guard heartbeatTimer == nil else { return }
        heartbeatTimer = loop.every(settings.heartbeatIntervalSeconds) { [weak self] in self?.tick() }
        probeTimer = loop.every(Self.probeIntervalSeconds) { [weak self] in self?.probe() }
        pubsub.onConnected.append { [weak self] in self?.subscribeProbe() }
        // The first heartbeat as soon as Redis answers, not a second later.
        server?.redis.onConnected.append { [weak self] in self?.tick() }
        pubsub.onDisconnected.append { [weak self] in
            self?.probeGeneration += 1
            self?.probeSubscribed = false
        }
        subscribeProbe()
    }

    /// The node is draining: the heartbeat says so, status streams end (clients reconnect elsewhere).
    public func beginDrain() {
        draining = true
        for exchange in Array(streams.values) { endStream(exchange, clean: true) }
    }

    /// Stops the heartbeat and the probe (the node is going away; its row expires in Redis).
    public func stop() {
        heartbeatTimer?.cancel()
        heartbeatTimer = nil
        probeTimer?.cancel()
        probeTimer = nil
    }

    // MARK: Heartbeat

    private func tick() {
        guard !ticking, let server else { return }
        ticking = true
        store.ping { [weak self] nanos in
            guard let self else { return }
            let heartbeat = self.heartbeat(server: server, pingNanoseconds: nanos)
            self.lastHeartbeat = heartbeat
            guard nanos != nil else {
                // Redis is unreachable: nothing to write; streams get this node's own figures.
                self.ticking = false
                return self.broadcast(self.snapshot(nodes: [heartbeat], error: "Redis is unavailable: this node only"))
            }
            self.store.write(node: self.name(server), heartbeat: heartbeat, nowMilliseconds: Clock.nowMilliseconds()) { _ in
                guard !self.streams.isEmpty else {
                    self.ticking = false
                    return
                }
                self.readSnapshot { body in
                    self.ticking = false
                    self.broadcast(body)
                }
            }
        }
    }

    /// This node's heartbeat JSON. Counts and timings only.
    func heartbeat(server: RelayServer, pingNanoseconds: Int64?) -> [UInt8] {
        let now = Clock.monotonicSeconds()
        let appended = server.metrics.recordsAppended
        let delivered = server.hub.metrics.recordsDelivered
        var appendsPerSec = 0.0
        var deliveriesPerSec = 0.0
        if let last, now - last.at > 0.05 {
            appendsPerSec = Double(appended - last.appended) / (now - last.at)
            deliveriesPerSec = Double(delivered - last.delivered) / (now - last.at)
        }
        last = (now, appended, delivered)
        let http = server.readings.httpCounters()
        var w = JSONObjectWriter()
        w.string("node", name(server))
        w.string("version", RelayVersion.current)
        w.int("uptimeSeconds", Int(now - startedAt))
        w.int("at", Clock.nowMilliseconds())
        w.bool("draining", draining || server.draining)
        w.int("connections", http.openConnections)
        w.int("subscribers", server.hub.subscriberCount)
        w.int("channels", server.hub.feedCount)
        w.int("statusStreams", streams.count)
        w.raw("appendsPerSec", Self.decimal(appendsPerSec))
        w.raw("deliveriesPerSec", Self.decimal(deliveriesPerSec))
        w.int("appendsTotal", appended)
        w.int("deliveriesTotal", delivered)
        w.optionalRaw("pubsubP99Ms", probeP99(now: now).map { Self.decimal($0, places: 3) })
        w.int("pubsubSamples", probeSamples.count)
        w.optionalRaw("redisPingMs", pingNanoseconds.map { Self.decimal(Double($0) / 1e6, places: 3) })
        w.int("ttlSeconds", settings.ttlSeconds)
        return w.finishBytes()
    }

    private func name(_ server: RelayServer) -> String { settings.nodeName ?? server.nodeName }

    /// A non-negative number with at most `places` decimals, as JSON.
    static func decimal(_ value: Double, places: Int = 2) -> String {
        guard value.isFinite, value > 0 else { return "0" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = (value * scale).rounded()
        guard scaled < 9e15 else { return String(Int64(value)) }
        let n = Int64(scaled)
        let whole = n / Int64(scale)
        var fraction = String(n % Int64(scale))
        while fraction.count < places { fraction = "0" + fraction }
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }

    // MARK: Probe

    private func subscribeProbe() {
        guard pubsub.isConnected, !probeSubscribed else { return }
        probeGeneration += 1
        let generation = probeGeneration
        probeSubscribed = true
        pubsub.subscribe(probeChannel) { [weak self] event in
            guard let self, self.probeGeneration == generation else { return }
            switch event {
            case .subscribed: break
            case .message(let payload): self.probeArrived(payload)
            case .unsubscribed, .connectionLost: self.probeSubscribed = false
            }
        }
    }

    private func probe() {
        guard probeSubscribed else { return }
        store.publishProbe(channel: probeChannel, payload: String(Clock.monotonicNanoseconds())) { _ in }
    }

    private func probeArrived(_ payload: [UInt8]) {
        guard let sent = Int64(String(decoding: payload, as: UTF8.self)) else { return }
        let arrived = Clock.monotonicNanoseconds()
        let now = Double(arrived) / 1e9
        probeSamples.append((now, Double(max(0, arrived - sent)) / 1e6))
        let cutoff = now - Self.probeWindowSeconds
        if let keep = probeSamples.firstIndex(where: { $0.at >= cutoff }), keep > 0 {
            probeSamples.removeFirst(keep)
        }
        if probeSamples.count > 2000 { probeSamples.removeFirst(probeSamples.count - 2000) }
    }

    /// The 99th percentile of the last minute's probe round trips (nearest rank), in ms.
    func probeP99(now: Double) -> Double? {
        let cutoff = now - Self.probeWindowSeconds
        let values = probeSamples.filter { $0.at >= cutoff }.map(\.ms).sorted()
        guard !values.isEmpty else { return nil }
        let rank = Int((0.99 * Double(values.count)).rounded(.up))
        return values[max(0, min(values.count - 1, rank - 1))]
    }

    // MARK: Snapshots

    /// `{"now":ms,"servedBy":name,"ttlSeconds":n,"nodes":[heartbeat...]}` from Redis.
    func readSnapshot(_ completion: @escaping ([UInt8]) -> Void) {
        store.readAll { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let beats):
                self.readFailing = false
                completion(self.snapshot(nodes: beats.filter { JSONParser.isValid($0) }, error: nil))
            case .failure(let error):
                if !self.readFailing { self.logger.warning("status read failed", metadata: ["error": "\(error)"]) }
                self.readFailing = true
                let own = self.lastHeartbeat.map { [$0] } ?? []
                completion(self.snapshot(nodes: own, error: "Redis is unavailable: this node only"))
            }
        }
    }

    /// Reads for /status.json: nil when Redis could not be read.
    func readForJSON(_ completion: @escaping ([UInt8]?) -> Void) {
        store.readAll { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let beats): completion(self.snapshot(nodes: beats.filter { JSONParser.isValid($0) }, error: nil))
            case .failure: completion(nil)
            }
        }
    }

    func snapshot(nodes: [[UInt8]], error: String?) -> [UInt8] {
        var out: [UInt8] = Array("{\"now\":\(Clock.nowMilliseconds()),\"servedBy\":".utf8)
        out += Array(jsonQuoted(server?.nodeName ?? "").utf8)
        out += Array(",\"ttlSeconds\":\(settings.ttlSeconds)".utf8)
        if let error { out += Array(",\"error\":\(jsonQuoted(error))".utf8) }
        out += Array(",\"nodes\":[".utf8)
        for (i, beat) in nodes.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += beat
        }
        out += Array("]}".utf8)
        return out
    }

    // MARK: Streams

    /// Takes an authorized /status/stream request: 503 past the cap or while draining.
    func open(_ exchange: HTTPExchange, headers: [(String, String)], refuse: (APIError) -> Void, started: () -> Void) {
        if draining || server?.draining == true { return refuse(.serviceUnavailable("This node is draining; reconnect")) }
        guard streams.count < settings.maxStreams else {
            return refuse(.serviceUnavailable("Too many status streams on this node (at most \(settings.maxStreams))"))
        }
        let id = ObjectIdentifier(exchange)
        started()
        exchange.startStream(status: 200, headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                                                     ("X-Accel-Buffering", "no")] + headers) { [weak self] in
            self?.forget(id)
        }
        guard exchange.isStreaming else { return }
        streams[id] = exchange
        streamTimers[id] = loop.after(settings.streamLifetimeSeconds) { [weak self, weak exchange] in
            guard let self, let exchange else { return }
            self.endStream(exchange, clean: true)
        }
        // The first update at once, not at the next tick (with the reconnect delay for EventSource).
        readSnapshot { [weak self, weak exchange] body in
            guard let self, let exchange, self.streams[id] != nil else { return }
            self.write(SharedFrame(Array("retry: 2000\n".utf8) + Self.event(body)), to: exchange)
        }
    }

    /// One unnamed SSE event (EventSource's `onmessage`): a `data:` line per line of `body`.
    static func event(_ body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = Array("data: ".utf8)
        out.reserveCapacity(body.count + 16)
        for byte in body {
            if byte == 0x0A || byte == 0x0D { out += Array("\ndata: ".utf8) } else { out.append(byte) }
        }
        out += Array("\n\n".utf8)
        return out
    }

    private func broadcast(_ body: [UInt8]) {
        guard !streams.isEmpty else { return }
        let frame = SharedFrame(Self.event(body))
        for exchange in Array(streams.values) { write(frame, to: exchange) }
    }

    private func write(_ frame: SharedFrame, to exchange: HTTPExchange) {
        if exchange.write([frame]) > Self.maxUnsentBytes { endStream(exchange, clean: false) }
    }

    private func endStream(_ exchange: HTTPExchange, clean: Bool) {
        forget(ObjectIdentifier(exchange))
        if clean { exchange.endStream() } else { exchange.abort() }
    }

    private func forget(_ id: ObjectIdentifier) {
        streams[id] = nil
        streamTimers.removeValue(forKey: id)?.cancel()
    }
}
