// LoopAndEndpoints.swift: the shared launchers in this target's terms (RedisEndpoint), bounded
// runs of the event loop, and a listener that never reads.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RelayIO
@testable import RelayRedis

extension RedisServer {
    var endpoint: RedisEndpoint { .tcp(host: "127.0.0.1", port: Int(port)) }
}

extension RedisCluster {
    /// The initial primaries, what dev-cluster prints in its URL.
    var seeds: [RedisEndpoint] { primaryPorts.map { .tcp(host: host, port: Int($0)) } }
}

extension RedisEndpoint {
    var port: Int {
        if case .tcp(_, let port) = self { return port }
        return 0
    }
}

extension EventLoop {
    /// Runs the loop until `body` calls back (the value) or `timeout` seconds pass (nil).
    func wait<T>(_ timeout: Double, _ body: (@escaping (T) -> Void) -> Void) -> T? {
        var result: T?
        var finished = false
        let timer = after(timeout) { [unowned self] in self.stop() }
        body { value in
            guard !finished else { return }
            finished = true
            result = value
            self.stop()
        }
        if !finished { run() }
        timer.cancel()
        return result
    }

    /// Runs the loop (its timers and connections) for `seconds`.
    func runFor(_ seconds: Double) {
        let _: Bool? = wait(seconds) { _ in }
    }

    /// Sends every command and waits for all replies (in the order given).
    func replies(_ timeout: Double, _ sends: [(@escaping (RedisReply) -> Void) -> Void]) -> [RedisReply]? {
        wait(timeout) { (done: @escaping ([RedisReply]) -> Void) in
            var replies = [RedisReply?](repeating: nil, count: sends.count)
            var pending = sends.count
            if pending == 0 { return done([]) }
            for (i, send) in sends.enumerated() {
                send { reply in
                    replies[i] = reply
                    pending -= 1
                    if pending == 0 { done(replies.map { $0! }) }
                }
            }
        }
    }

    /// Runs the loop until `condition` holds (checked every 2 ms on the loop, so it sees the
    /// state the callbacks left) or `timeout` passes. Returns whether it holds.
    @discardableResult
    func spin(timeout: Double = 10, until condition: @escaping () -> Bool) -> Bool {
        if condition() { return true }
        let deadline = after(timeout) { [unowned self] in self.stop() }
        let check = every(0.002) { [unowned self] in if condition() { self.stop() } }
        run()
        deadline.cancel()
        check.cancel()
        return condition()
    }

    /// Runs the loop for `seconds` (to show that something does NOT happen).
    func spin(for seconds: Double) {
        let deadline = after(seconds) { [unowned self] in self.stop() }
        run()
        deadline.cancel()
    }
}

/// A listening socket that never accepts nor reads: the kernel completes connections to it,
/// and what is sent piles up (a Redis that stopped reading).
final class StalledListener {
    let port: Int
    private let fd: Int32

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = self.fd
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { close(fd); throw HarnessError("cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}
