// ServiceGroupTests: the order a node's services start, drain and stop in, and how a fatal
// condition ends the node with an exit status. On a real event loop, with no sockets.
import XCTest
import Logging
import RelayIO
@testable import relay

final class ServiceGroupTests: XCTestCase {
    private var events: [String] = []

    private func service(_ name: String, drainDelay: Double? = nil, loop: EventLoop, failStart: Bool = false) -> Service {
        var timer: LoopTimer?
        return ServiceHooks(name, start: { [self] in
            if failStart { throw ConfigError(description: "\(name) cannot start") }
            events.append("start \(name)")
        }, drain: { [self] completion in
            events.append("drain \(name)")
            guard let drainDelay else { return completion() }
            timer = loop.after(drainDelay) { [self] in
                events.append("drained \(name)")
                completion()
                completion()  // a second call counts once
            }
        }, stop: { [self] in
            timer?.cancel()
            events.append("stop \(name)")
        })
    }

    func testStartsInOrderDrainsAllLastFirstThenStopsLastFirst() throws {
        let loop = EventLoop()
        let group = ServiceGroup(loop: loop, logger: Logger(label: "test"))
        group.add(service("redis", loop: loop))
        group.add(service("api", loop: loop))
        group.add(service("http", drainDelay: 0.05, loop: loop))
        let ask = loop.after(0.01) { group.drain(signal: "SIGTERM") }
        let status = try withExtendedLifetime(ask) { try group.run() }
        XCTAssertEqual(status, 0)
        XCTAssertEqual(events, [
            "start redis", "start api", "start http",
            // Every drain begins at once, last first; nothing stops while one still drains.
            "drain http", "drain api", "drain redis", "drained http",
            "stop http", "stop api", "stop redis",
        ])
    }

    func testAFatalConditionStopsAtOnceWithItsExitStatus() throws {
        let loop = EventLoop()
        let group = ServiceGroup(loop: loop, logger: Logger(label: "test"))
        group.add(service("redis", loop: loop))
        group.add(service("http", drainDelay: 60, loop: loop))
        let fatal = loop.after(0.01) { group.fail(status: 2, "Redis 6.x is too old") }
        let status = try withExtendedLifetime(fatal) { try group.run() }
        XCTAssertEqual(status, 2)
        XCTAssertEqual(events, ["start redis", "start http", "stop http", "stop redis"])
    }

    func testAFailedStartStopsWhatStartedAndThrows() {
        let loop = EventLoop()
        let group = ServiceGroup(loop: loop, logger: Logger(label: "test"))
        group.add(service("embedded", loop: loop))
        group.add(service("redis", loop: loop))
        group.add(service("http", loop: loop, failStart: true))
        XCTAssertThrowsError(try group.run()) { XCTAssertEqual("\($0)", "http cannot start") }
        XCTAssertEqual(events, ["start embedded", "start redis", "stop redis", "stop embedded"])
    }

    func testAFailureWhileDrainingStopsAtOnceAndASecondDrainDoesNothing() throws {
        let loop = EventLoop()
        let group = ServiceGroup(loop: loop, logger: Logger(label: "test"))
        group.add(service("redis", loop: loop))
        group.add(service("http", drainDelay: 60, loop: loop))
        let ask = loop.after(0.01) {
            group.drain(signal: "SIGTERM")
            group.drain(signal: "SIGINT")
        }
        let fatal = loop.after(0.05) { group.fail(status: 3, "fatal") }
        let status = try withExtendedLifetime((ask, fatal)) { try group.run() }
        XCTAssertEqual(status, 3)
        XCTAssertEqual(events, ["start redis", "start http", "drain http", "drain redis", "stop http", "stop redis"])
    }
}
