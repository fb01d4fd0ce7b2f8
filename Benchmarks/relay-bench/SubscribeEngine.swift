// SubscribeEngine: one process's share of the SSE subscribers. Connections are opened at the
// ramp rate, spread over channels, nodes and loopback source addresses; every event's stamp
// gives its append-to-delivery latency and its place in the channel's sequence.
import BenchCore
import RelayIO

final class SubscribeEngine {
    struct Settings {
        var indices: [Int]              // global connection numbers this process opens
        var channels: Int
        var rampPerSecond: Double
        var sources: [String]
        var timeoutSeconds: Int
    }

    private final class Subscription {
        var client: HTTPClient?
        var stream: HTTPClientStream?
        var scanner = StampScanner()
        var tracker = SequenceTracker()
        var connected = false
    }

    private let loop: EventLoop
    private let target: BenchTarget
    private let settings: Settings
    private var subscriptions: [Subscription] = []
    private(set) var report = LatencyReport()
    private(set) var open = 0
    private(set) var ended = 0
    private var opened = 0
    private var rampTimer: LoopTimer?
    private var rampStart = 0.0

    init(loop: EventLoop, target: BenchTarget, settings: Settings) {
        self.loop = loop
        self.target = target
        self.settings = settings
    }

    func start() {
        rampStart = Clock.monotonicSeconds()
        rampTimer = loop.every(0.01) { [weak self] in self?.ramp() }
        ramp()
    }

    private func ramp() {
        let due = min(settings.indices.count, Int((Clock.monotonicSeconds() - rampStart) * settings.rampPerSecond) + 1)
        while opened < due {
            openConnection(settings.indices[opened])
            opened += 1
        }
        if opened == settings.indices.count { rampTimer?.cancel() }
    }

    private func openConnection(_ index: Int) {
        let node = target.nodes[index % target.nodes.count]
        let source = settings.sources.isEmpty ? nil : settings.sources[index % settings.sources.count]
        let subscription = Subscription()
        subscriptions.append(subscription)
        let client = HTTPClient(loop: loop, host: node.host, port: node.port, localAddress: source,
                                timeoutSeconds: Int32(settings.timeoutSeconds + 60))
        subscription.client = client
        let path = target.subscribePath(target.channel(index % settings.channels))
        subscription.stream = client.stream(
            path, headers: target.subscribeHeaders + [("Timeout-Seconds", String(min(settings.timeoutSeconds, 600))),
                                                      ("Accept", "text/event-stream")],
            onHeaders: { [weak self, unowned subscription] status in
                guard let self else { return }
                if status == 200 {
                    subscription.connected = true
                    self.open += 1
                    self.report.connections += 1
                } else {
                    self.report.errors += 1
                }
            },
            onChunk: { [weak self, unowned subscription] bytes in
                guard let self else { return }
                let now = Clock.nowMicroseconds()
                subscription.scanner.feed(bytes) { stamp in
                    self.report.events += 1
                    self.report.record(latencyMicroseconds: now > stamp.t ? now - stamp.t : 0)
                    subscription.tracker.observe(stamp.n)
                }
            },
            onEnd: { [weak self, unowned subscription] _ in
                guard let self else { return }
                if subscription.connected { self.open -= 1; subscription.connected = false }
                self.ended += 1
            })
    }

    /// Closes every stream; the report's gap and duplicate counts are final after this.
    func stop() {
        rampTimer?.cancel()
        for subscription in subscriptions {
            subscription.stream?.cancel()
            report.missing += subscription.tracker.missing
            report.duplicates += subscription.tracker.duplicates
        }
        subscriptions.removeAll()
    }
}
