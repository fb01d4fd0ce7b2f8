// DrainEngine: GET .../out/records?limit=L at a fixed rate over the channels, timing each.
import BenchCore
import RelayIO

final class DrainEngine {
    private let loop: EventLoop
    private let target: BenchTarget
    private let channels: Int
    private let limit: Int
    private let ratePerSecond: Double
    private var clients: [(client: HTTPClient, busy: Bool)] = []
    private var timer: LoopTimer?
    private var startedAt = 0.0
    private var scheduled = 0
    private var next = 0
    private(set) var report = LatencyReport()
    private(set) var records = 0

    init(loop: EventLoop, target: BenchTarget, channels: Int, limit: Int, ratePerSecond: Double, connections: Int) {
        self.loop = loop
        self.target = target
        self.channels = channels
        self.limit = limit
        self.ratePerSecond = ratePerSecond
        let node = target.nodes[0]
        clients = (0..<connections).map { _ in (HTTPClient(loop: loop, host: node.host, port: node.port), false) }
    }

    func start() {
        startedAt = Clock.monotonicSeconds()
        timer = loop.every(0.005) { [weak self] in self?.tick() }
    }

    func stop() { timer?.cancel() }

    private func tick() {
        let due = Int((Clock.monotonicSeconds() - startedAt) * ratePerSecond)
        while scheduled < due {
            guard let free = clients.firstIndex(where: { !$0.busy }) else { return }
            scheduled += 1
            clients[free].busy = true
            let channel = target.channel(next % channels)
            next += 1
            let started = Clock.nowMicroseconds()
            clients[free].client.request(.get, target.drainPath(channel, limit: limit), headers: target.authorization) { [weak self] response in
                guard let self else { return }
                self.clients[free].busy = false
                if response.status == 200 {
                    self.report.events += 1
                    self.report.record(latencyMicroseconds: Clock.nowMicroseconds() - started)
                    self.records += response.body.count > 0 ? DrainEngine.count(#""seqNum":"#, in: response.body) : 0
                } else {
                    self.report.errors += 1
                }
            }
        }
    }

    static func count(_ needle: String, in bytes: [UInt8]) -> Int {
        let n = Array(needle.utf8)
        var count = 0
        var i = 0
        while i + n.count <= bytes.count {
            if bytes[i] == n[0] && Array(bytes[i..<(i + n.count)]) == n { count += 1; i += n.count } else { i += 1 }
        }
        return count
    }
}
