// Ticker: a step repeated on the loop every interval, off when the interval is 0 or less: the
// sweepers' timer (IndexSweeper, OutboxSweeper), started and stopped by the node's services.
import RelayIO

final class Ticker {
    private let loop: EventLoop
    let intervalSeconds: Double
    private var timer: LoopTimer?

    init(loop: EventLoop, intervalSeconds: Double) {
        self.loop = loop
        self.intervalSeconds = intervalSeconds
    }

    /// Runs `step` every interval from now on; nothing when off or already started.
    func start(_ step: @escaping () -> Void) {
        guard intervalSeconds > 0, timer == nil else { return }
        timer = loop.every(intervalSeconds, step)
    }

    func stop() {
        timer?.cancel()
        timer = nil
    }
}
