// HubClock: time for the fan-out (the hub, its feeds and subscribers): its readings of the
// clock and its timers. The relay runs on the event loop's (libevent timers, the coarse
// monotonic clock, common timeouts for the idle timers of many streams); the hub's unit tests
// pass a VirtualTime that they move by hand, so a 60 s idle timeout is tested in no time.
// The readings are a branch, not a dynamic call: one of them is taken per record written.
import RelayIO

/// A timer the fan-out arms, re-arms and cancels.
protocol HubTimer: AnyObject {
    func arm(_ seconds: Double)
    func arm(common: CommonTimeout)
    func cancel()
}

extension LoopTimer: HubTimer {}

public final class HubClock {
    let loop: EventLoop
    private let virtual: VirtualTime?

    /// The event loop's time.
    public init(loop: EventLoop) {
        self.loop = loop
        virtual = nil
    }

    /// Virtual time (tests): timers fire only as `time` is advanced.
    init(loop: EventLoop, virtual time: VirtualTime) {
        self.loop = loop
        virtual = time
    }

    /// Monotonic seconds (coarse: a few ms of resolution).
    var monotonicSeconds: Double { virtual?.now ?? Clock.monotonicCoarse() }

    /// Wall-clock milliseconds since the epoch.
    var epochMilliseconds: Int64 {
        guard let virtual else { return Clock.nowMilliseconds() }
        return virtual.epochAtStart + Int64(virtual.now * 1000)
    }

    /// A timer not armed yet.
    func timer(_ fire: @escaping () -> Void) -> HubTimer {
        virtual?.timer(repeating: nil, fire) ?? LoopTimer(loop: loop, fire)
    }

    /// Fires once after `seconds` (it keeps itself alive until then); cancel to stop it.
    @discardableResult
    func after(_ seconds: Double, _ fire: @escaping () -> Void) -> HubTimer {
        guard let virtual else { return loop.after(seconds, fire) }
        let timer = virtual.timer(repeating: nil, fire)
        timer.arm(seconds)
        return timer
    }

    /// Fires every `seconds` until cancelled; the caller keeps it.
    func every(_ seconds: Double, _ fire: @escaping () -> Void) -> HubTimer {
        guard let virtual else { return loop.every(seconds, fire) }
        let timer = virtual.timer(repeating: seconds, fire)
        timer.arm(seconds)
        return timer
    }

    /// A libevent common timeout (many timers of one duration, cheaply); nil in virtual time.
    func commonTimeout(_ seconds: Double) -> CommonTimeout? {
        virtual == nil ? loop.commonTimeout(seconds) : nil
    }
}

/// Time that moves only when told (`advance`): the timers due meanwhile fire in order.
final class VirtualTime {
    private(set) var now = 0.0
    let epochAtStart = Clock.nowMilliseconds()
    private var armed: [VirtualTimer] = []
    private var sequence = 0

    func timer(repeating interval: Double?, _ fire: @escaping () -> Void) -> VirtualTimer {
        VirtualTimer(time: self, interval: interval, fire)
    }

    /// Moves time on by `seconds`, firing every timer due by then (those armed meanwhile too).
    func advance(by seconds: Double) {
        let end = now + seconds
        while let next = armed.filter({ $0.due! <= end }).min(by: { ($0.due!, $0.order) < ($1.due!, $1.order) }) {
            now = max(now, next.due!)
            next.fired()
        }
        now = end
    }

    fileprivate func schedule(_ timer: VirtualTimer, in seconds: Double) {
        sequence += 1
        timer.due = now + max(0, seconds)
        timer.order = sequence
        if !armed.contains(where: { $0 === timer }) { armed.append(timer) }
    }

    fileprivate func unschedule(_ timer: VirtualTimer) {
        timer.due = nil
        armed.removeAll { $0 === timer }
    }
}

final class VirtualTimer: HubTimer {
    private unowned let time: VirtualTime
    private let interval: Double?
    private let fire: () -> Void
    fileprivate var due: Double?
    fileprivate var order = 0

    fileprivate init(time: VirtualTime, interval: Double?, _ fire: @escaping () -> Void) {
        self.time = time
        self.interval = interval
        self.fire = fire
    }

    func arm(_ seconds: Double) { time.schedule(self, in: seconds) }
    func arm(common: CommonTimeout) { preconditionFailure("virtual time hands out no common timeouts") }
    func cancel() { time.unschedule(self) }

    fileprivate func fired() {
        if let interval { time.schedule(self, in: interval) } else { time.unschedule(self) }
        fire()
    }
}
