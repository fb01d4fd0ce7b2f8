// Service: a part of a relay node with a life cycle (start, drain, stop), and ServiceGroup,
// which drives a node's services: it starts them in the order they were added (each may use
// the ones before it), and on the way out drains them last first and then stops them last
// first. RelayNode builds the group; nothing else starts or stops a service.
//
// The contract, on the loop thread:
//  - start() is called once, before the loop runs, in order. If one throws, the ones already
//    started are stopped (last first) and the error goes to the caller.
//  - drain(completion) is called on every started service in one pass, last first, when the
//    node is asked to stop (SIGTERM, SIGINT). A service stops taking new work and calls
//    `completion` once its work under way is done (at once if it has none). Drains overlap:
//    while one waits (the HTTP server for its in-flight requests) the others keep serving
//    what it waits on, so nothing may be released in drain.
//  - stop() is called once every service has drained, last first: release timers,
//    connections, processes. On a fatal condition (ServiceGroup.fail) it is called at once,
//    without a drain. Then the loop ends, and `run()` returns the node's exit status.
import Foundation
import Logging
import RelayIO

protocol Service: AnyObject {
    /// For logs.
    var name: String { get }
    func start() throws
    func drain(_ completion: @escaping () -> Void)
    func stop()
}

/// A service made of closures, for parts whose own types know nothing of services.
final class ServiceHooks: Service {
    let name: String
    private let onStart: () throws -> Void
    private let onDrain: (@escaping () -> Void) -> Void
    private let onStop: () -> Void

    init(_ name: String, start: @escaping () throws -> Void = {}, drain: @escaping (@escaping () -> Void) -> Void = { $0() },
         stop: @escaping () -> Void = {}) {
        self.name = name
        onStart = start
        onDrain = drain
        onStop = stop
    }

    func start() throws { try onStart() }
    func drain(_ completion: @escaping () -> Void) { onDrain(completion) }
    func stop() { onStop() }
}

final class ServiceGroup {
    private enum Phase { case building, running, draining, stopped }

    private let loop: EventLoop
    private let logger: Logger
    private var services: [any Service] = []
    private var started: [any Service] = []
    private var phase = Phase.building
    private var exitStatus: Int32 = 0

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
    }

    /// Adds a service after those added before it (it starts after them and stops before them).
    func add(_ service: any Service) {
        precondition(phase == .building, "services are added before the group runs")
        services.append(service)
    }

    /// Starts every service in order, runs the loop until the group has stopped, and returns
    /// the exit status: 0 after a drain, the status given to `fail` otherwise.
    func run() throws -> Int32 {
        try start()
        if phase != .stopped { loop.run() }
        return exitStatus
    }

    /// Starts every service in order; if one fails, stops those started (last first) and throws.
    func start() throws {
        if phase == .stopped { return }  // failed before it ran
        precondition(phase == .building, "a group starts once")
        for service in services {
            do {
                try service.start()
            } catch {
                phase = .stopped
                started.reversed().forEach { $0.stop() }
                throw error
            }
            started.append(service)
        }
        phase = .running
    }

    /// Drains every service (last first, all in one pass), then stops them and ends the loop.
    /// A second call, or one after a failure, does nothing.
    func drain(signal: String) {
        guard phase == .running else { return }
        phase = .draining
        logger.info("draining", metadata: ["signal": "\(signal)"])
        var pending = started.count
        guard pending > 0 else { return finish() }
        for service in started.reversed() {
            var done = false
            service.drain { [self] in
                guard !done else { return }
                done = true
                pending -= 1
                if pending == 0 { finish() }
            }
        }
    }

    /// A fatal condition: logs `message`, stops every service now (no drain) and ends the loop;
    /// `run()` returns `status`.
    func fail(status: Int32, _ message: String) {
        guard phase != .stopped else { return }
        logger.critical("\(message)")
        print("relay: \(message)")
        fflush(stdout)
        exitStatus = status
        finish()
    }

    private func finish() {
        guard phase != .stopped else { return }
        phase = .stopped
        started.reversed().forEach { $0.stop() }
        loop.stop()
    }
}
