// PublishEngine: appends at a fixed rate, each record stamped {"n":<per-channel sequence>,
// "t":<microseconds>}, over C keep-alive connections with one request in flight each. Appends
// go to whichever connection is free, so records of one channel may overtake each other on
// the way in (subscribers check that every number arrives once, not the arrival order).
// Over HTTP/2 (h2c) a lane is a stream slot: each of the C connections carries up to
// `streamsPerConnection` appends at once, each its own POST stream.
import BenchCore
import RelayIO

final class PublishEngine {
    struct Settings {
        var channels: Int
        var ratePerSecond: Double
        var connections: Int
        var partIds: Bool
        var bodyBytes: Int
        /// nil: HTTP/1.1; else HTTP/2 with this many appends in flight per connection.
        var streamsPerConnection: Int? = nil
        /// Appends in all (nil: no limit).
        var limit: Int? = nil
    }

    private final class Lane {
        let client: HTTPClient?
        let http2: HTTP2Client?
        var busy = false
        init(client: HTTPClient?, http2: HTTP2Client?) { self.client = client; self.http2 = http2 }

        /// Sends one request; `completion` gets the status (0 when it failed).
        func post(_ path: String, headers: [(String, String)], body: [UInt8], _ completion: @escaping (Int) -> Void) {
            if let http2 {
                var status = 0
                _ = http2.request(.post, path, headers: headers, body: body,
                                  onResponse: { code, _ in status = code }, onData: { _ in },
                                  onEnd: { error in completion(error == nil ? status : 0) })
            } else {
                client?.request(.post, path, headers: headers, body: body) { completion($0.status) }
            }
        }
    }

    private let loop: EventLoop
    private let target: BenchTarget
    private let settings: Settings
    private var lanes: [Lane] = []
    private var http2Clients: [HTTP2Client] = []
    private var idle: [Lane] = []
    private var waiting: [Int] = []     // channels due for an append, oldest first
    private var waitingHead = 0
    private var sequence: [UInt64]
    private var nextChannel = 0
    private var scheduled = 0
    private var timer: LoopTimer?
    private var startedAt = 0.0
    private let padding: String
    private(set) var report = LatencyReport()   // append round trips
    private(set) var sent = 0
    private(set) var dropped = 0
    /// With a limit: failed appends to send again (same channel and number), and how many were.
    private var retries: [(channel: Int, n: UInt64, attempt: Int)] = []
    private(set) var retried = 0
    static let attempts = 5

    init(loop: EventLoop, target: BenchTarget, settings: Settings) {
        self.loop = loop
        self.target = target
        self.settings = settings
        sequence = Array(repeating: 0, count: settings.channels)
        padding = settings.bodyBytes > 40 ? String(repeating: "x", count: settings.bodyBytes - 40) : ""
    }

    func start() {
        for i in 0..<settings.connections {
            let node = target.nodes[i % target.nodes.count]
            if let perConnection = settings.streamsPerConnection {
                let client = HTTP2Client(loop: loop, host: node.host, port: node.port)
                client.connect()
                http2Clients.append(client)
                lanes += (0..<perConnection).map { _ in Lane(client: nil, http2: client) }
            } else {
                lanes.append(Lane(client: HTTPClient(loop: loop, host: node.host, port: node.port), http2: nil))
            }
        }
        idle = lanes
        startedAt = Clock.monotonicSeconds()
        timer = loop.every(0.002) { [weak self] in self?.tick() }
    }

    /// Every append of `limit` was scheduled and none is waiting or in flight.
    var done: Bool {
        guard let limit = settings.limit else { return false }
        return scheduled >= limit && waitingHead >= waiting.count && retries.isEmpty && !lanes.contains(where: \.busy)
    }

    func stop() {
        timer?.cancel()
        for client in http2Clients { client.close() }
    }

    private func tick() {
        let due = Int((Clock.monotonicSeconds() - startedAt) * settings.ratePerSecond)
        while scheduled < min(due, settings.limit ?? .max) {
            let channel = nextChannel
            nextChannel = (nextChannel + 1) % settings.channels
            scheduled += 1
            // Never queue more than a second of work: what cannot be sent is counted, not kept.
            if waiting.count - waitingHead > max(1000, Int(settings.ratePerSecond)) {
                dropped += 1
                continue
            }
            waiting.append(channel)
        }
        while let lane = idle.popLast() {
            guard send(lane) else { idle.append(lane); break }
        }
    }

    /// Sends the oldest due append on `lane`; false when nothing is due.
    @discardableResult
    private func send(_ lane: Lane) -> Bool {
        let channel: Int, n: UInt64, attempt: Int
        if let retry = retries.popLast() {
            (channel, n, attempt) = (retry.channel, retry.n, retry.attempt + 1)
        } else {
            guard waitingHead < waiting.count else { return false }
            channel = waiting[waitingHead]
            waitingHead += 1
            if waitingHead > 4096 { waiting.removeFirst(waitingHead); waitingHead = 0 }
            sequence[channel] += 1
            (n, attempt) = (sequence[channel], 1)
        }
        let started = Clock.nowMicroseconds()
        var body = #"{"n":\#(n),"t":\#(started)"#
        if !padding.isEmpty { body += #","p":"\#(padding)""# }
        body += "}"
        var headers = target.authorization + [("Content-Type", "application/json")]
        if settings.partIds { headers.append(("X-Part-Id", "p-\(channel)-\(n)")) }
        lane.busy = true
        lane.post(target.appendPath(target.channel(channel)), headers: headers, body: Array(body.utf8)) { [weak self] status in
            guard let self else { return }
            lane.busy = false
            if status == 200 || status == 201 || status == 202 {
                self.sent += 1
                self.report.events += 1
                self.report.record(latencyMicroseconds: Clock.nowMicroseconds() - started)
            } else {
                self.report.errors += 1
                // With a limit, every one of the appends should land: the same number again.
                if self.settings.limit != nil && attempt < Self.attempts {
                    self.retries.append((channel, n, attempt))
                    self.retried += 1
                }
            }
            if !self.send(lane) { self.idle.append(lane) }
        }
        return true
    }
}
