// EventLoop: the libevent event_base that runs everything (HTTP, Redis, timers, signals).
// See Interop.md for the threading and ownership rules of this module.
internal import CLibevent
internal import CRelayShims

public final class EventLoop {
    let base: OpaquePointer
    #if DEBUG
    /// The thread that owns the loop: the one that created it, and runs it.
    private let owner = relay_thread_id()
    #endif

    public init() {
        guard let base = event_base_new() else { fatalError("event_base_new failed") }
        self.base = base
    }

    /// Every object built on the base holds the loop, so this runs after all of them are gone.
    deinit { event_base_free(base) }

    /// Debug builds stop at a loop-bound call made from another thread (Interop.md rule 1).
    @inline(__always)
    func assertOnLoopThread(_ function: StaticString = #function) {
        #if DEBUG
        precondition(owner == relay_thread_id(), "\(function) called off the event loop's thread")
        #endif
    }

    /// Runs until `stop()` or until no events remain.
    public func run() { event_base_dispatch(base) }

    /// Makes `run()` return after the current callbacks.
    public func stop() { event_base_loopbreak(base) }

    /// A one-shot timer. It keeps itself alive until it fires or is cancelled, so the result
    /// may be dropped; keep it only to be able to cancel it.
    @discardableResult
    public func after(_ seconds: Double, _ fire: @escaping () -> Void) -> LoopTimer {
        let timer = LoopTimer(loop: self, repeating: false, fire)
        timer.arm(seconds)
        timer.selfRetain = timer
        return timer
    }

    /// A repeating timer; it fires every `seconds` until cancelled.
    public func every(_ seconds: Double, _ fire: @escaping () -> Void) -> LoopTimer {
        let timer = LoopTimer(loop: self, repeating: true, fire)
        timer.arm(seconds)
        return timer
    }

    /// A timeval that libevent keeps in a shared queue: timers of equal duration armed with it
    /// cost O(1) to add and remove, which suits thousands of per-connection idle timers.
    /// nil when libevent has no more room (it allows 256 distinct durations per loop).
    public func commonTimeout(_ seconds: Double) -> CommonTimeout? {
        var tv = timeval(seconds)
        guard let pointer = event_base_init_common_timeout(base, &tv) else { return nil }
        return CommonTimeout(pointer: pointer)
    }
}

/// Raises this process's soft open-file limit to the hard limit (every connection is a file);
/// returns the limit now in force.
@discardableResult
public func raiseOpenFileLimit() -> Int { Int(relay_raise_nofile_limit()) }

/// An opaque handle to a libevent common timeout duration.
public struct CommonTimeout {
    let pointer: UnsafePointer<timeval>?
}

extension timeval {
    init(_ seconds: Double) {
        let whole = seconds.rounded(.down)
        self.init(tv_sec: Int(whole), tv_usec: Int((seconds - whole) * 1_000_000))
    }
}

/// A timer on the loop. The loop never retains it: whoever armed it keeps it alive, except a
/// one-shot timer from `EventLoop.after`, which holds itself until it fires or is cancelled.
public final class LoopTimer {
    private let loop: EventLoop
    private var event: OpaquePointer?
    private let fire: () -> Void
    private let repeating: Bool
    fileprivate var selfRetain: LoopTimer?

    init(loop: EventLoop, repeating: Bool, _ fire: @escaping () -> Void) {
        self.loop = loop
        self.fire = fire
        self.repeating = repeating
        let flags: Int16 = repeating ? Int16(EV_PERSIST) : 0
        event = event_new(loop.base, -1, flags, { _, _, arg in
            let timer = Unmanaged<LoopTimer>.fromOpaque(arg!).takeUnretainedValue()
            // Keep the timer alive through its own callback, then drop the self-retain.
            withExtendedLifetime(timer) {
                timer.fire()
                if !timer.repeating && !timer.isPending { timer.selfRetain = nil }
            }
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// A timer that is armed later with `arm(common:)` or `arm(_:)`.
    public convenience init(loop: EventLoop, _ fire: @escaping () -> Void) {
        self.init(loop: loop, repeating: false, fire)
    }

    deinit {
        if let event { event_free(event) }
    }

    public func arm(_ seconds: Double) {
        loop.assertOnLoopThread()
        var tv = timeval(seconds)
        event_add(event, &tv)
    }

    /// (Re)arms with a common timeout: O(1) instead of a heap insertion.
    public func arm(common: CommonTimeout) {
        loop.assertOnLoopThread()
        event_add(event, common.pointer)
    }

    public func cancel() {
        event_del(event)
        selfRetain = nil
    }

    public var isPending: Bool { event_pending(event, Int16(EV_TIMEOUT), nil) != 0 }
}

/// Watches one signal on the loop (SIGTERM, SIGINT, SIGHUP...). Keep it alive while needed.
public final class SignalWatcher {
    private let loop: EventLoop
    private var event: OpaquePointer?
    private let handler: () -> Void

    public init(loop: EventLoop, signal: Int32, _ handler: @escaping () -> Void) {
        self.loop = loop
        self.handler = handler
        event = event_new(loop.base, signal, Int16(EV_SIGNAL | EV_PERSIST), { _, _, arg in
            Unmanaged<SignalWatcher>.fromOpaque(arg!).takeUnretainedValue().handler()
        }, Unmanaged.passUnretained(self).toOpaque())
        event_add(event, nil)
    }

    deinit {
        if let event {
            event_del(event)
            event_free(event)
        }
    }
}

/// Work that runs once the loop has finished the callbacks at hand (event_active): many
/// `schedule()` calls in one loop iteration run `work` once, later in that same iteration.
/// Used to write everything the iteration produced for a connection in one system call.
public final class LoopTask {
    private let loop: EventLoop
    private var event: OpaquePointer?
    private let work: () -> Void
    private var scheduled = false

    public init(loop: EventLoop, _ work: @escaping () -> Void) {
        self.loop = loop
        self.work = work
        event = event_new(loop.base, -1, 0, { _, _, arg in
            let task = Unmanaged<LoopTask>.fromOpaque(arg!).takeUnretainedValue()
            task.scheduled = false
            task.work()
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        if let event {
            event_del(event)
            event_free(event)
        }
    }

    public func schedule() {
        loop.assertOnLoopThread()
        guard !scheduled else { return }
        scheduled = true
        event_active(event, Int32(EV_TIMEOUT), 0)
    }
}
