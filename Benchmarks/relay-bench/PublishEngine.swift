// PublishEngine: appends at a fixed rate, each record stamped {"n":<per-channel sequence>,
// "t":<microseconds>}. Channel c is always written through connection c % C, so a channel's
// records are sent in order; each connection keeps one request in flight (keep-alive).
import BenchCore
import RelayIO

final class PublishEngine {
    struct Settings {
        var channels: Int
        var ratePerSecond: Double
        var connections: Int
        var partIds: Bool
        var bodyBytes: Int
    }

    private final class Lane {
        let client: HTTPClient
        var queue: [Int] = []     // channels waiting for their next append
        var head = 0
        var busy = false
        init(client: HTTPClient) { self.client = client }
    }

    private let loop: EventLoop
    private let target: BenchTarget
    private let settings: Settings
    private var lanes: [Lane] = []
    private var sequence: [UInt64]
    private var nextChannel = 0
    private var scheduled = 0
    private var timer: LoopTimer?
    private var startedAt = 0.0
    private let padding: String
    private(set) var report = LatencyReport()   // append round trips
    private(set) var sent = 0
    private(set) var dropped = 0

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
            lanes.append(Lane(client: HTTPClient(loop: loop, host: node.host, port: node.port)))
        }
        startedAt = monotonicSeconds()
        timer = loop.every(0.002) { [weak self] in self?.tick() }
    }

    func stop() { timer?.cancel() }

    private func tick() {
        let due = Int((monotonicSeconds() - startedAt) * settings.ratePerSecond)
        while scheduled < due {
            let channel = nextChannel
            nextChannel = (nextChannel + 1) % settings.channels
            scheduled += 1
            let lane = lanes[channel % lanes.count]
            // Never queue more than a second of work: what cannot be sent is counted, not kept.
            if lane.queue.count - lane.head > max(1000, Int(settings.ratePerSecond) / lanes.count) {
                dropped += 1
                continue
            }
            lane.queue.append(channel)
            send(lane)
        }
    }

    private func send(_ lane: Lane) {
        guard !lane.busy, lane.head < lane.queue.count else { return }
        let channel = lane.queue[lane.head]
        lane.head += 1
        if lane.head > 4096 { lane.queue.removeFirst(lane.head); lane.head = 0 }
        sequence[channel] += 1
        let n = sequence[channel]
        let started = nowMicroseconds()
        var body = #"{"n":\#(n),"t":\#(started)"#
        if !padding.isEmpty { body += #","p":"\#(padding)""# }
        body += "}"
        var headers = target.authorization + [("Content-Type", "application/json")]
        if settings.partIds { headers.append(("X-Part-Id", "p-\(channel)-\(n)")) }
        lane.busy = true
        lane.client.request(.post, target.appendPath(target.channel(channel)), headers: headers, body: Array(body.utf8)) { [weak self] response in
            guard let self else { return }
            lane.busy = false
            if response.status == 200 || response.status == 201 || response.status == 202 {
                self.sent += 1
                self.report.events += 1
                self.report.record(latencyMicroseconds: nowMicroseconds() - started)
            } else {
                self.report.errors += 1
            }
            self.send(lane)
        }
    }
}
