// LocalRedis: real redis-server processes for the pub/sub tests (no mocks of Redis), and the
// small tools they need: a free port, redis-cli, a bounded run of the event loop.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RelayIO
import XCTest

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One redis-server on 127.0.0.1:port (and a unix socket) in its own temporary directory,
/// without persistence. `kill` is SIGKILL; `start` again reuses the port.
final class LocalRedis {
    let port: Int
    let directory: URL
    private var process: Process?

    var endpoint: RedisEndpoint { .tcp(host: "127.0.0.1", port: port) }
    var socketPath: String { directory.appendingPathComponent("redis.sock").path }

    init() throws {
        port = try freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-pubsub-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func start() throws {
        let process = Process()
        // setpriv: the server dies with the test process, even when the run is killed.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--pdeathsig", "KILL", "--", try which("redis-server"),
                             "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--unixsocket", socketPath, "--unixsocketperm", "700",
                             "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try waitUntil(10, "redis-server on \(port) to answer PING") { (try? redisCLI(port, "PING")) == "PONG" }
    }

    /// SIGKILL, and waits for the exit.
    func kill() {
        guard let process else { return }
        self.process = nil
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGSTOP: the server hangs, its kernel still accepts and keeps the connections (a partition).
    func pause() {
        if let process { Glibc.kill(process.processIdentifier, SIGSTOP) }
    }

    /// SIGCONT after `pause`.
    func resume() {
        if let process { Glibc.kill(process.processIdentifier, SIGCONT) }
    }

    func destroy() {
        resume()
        kill()
        try? FileManager.default.removeItem(at: directory)
    }

    func cli(_ args: String...) throws -> String { try redisCLI(port, args) }
}

// MARK: Tools

func which(_ tool: String) throws -> String {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        let path = "\(dir)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw TestFailure("\(tool) not found on PATH")
}

/// Runs `redis-cli -p port args...` and returns its output without the trailing newline.
func redisCLI(_ port: Int, _ args: String...) throws -> String { try redisCLI(port, args) }

func redisCLI(_ port: Int, _ args: [String]) throws -> String {
    try runTool(which("redis-cli"), ["-p", String(port)] + args)
}

/// Runs a tool to completion (they all end in well under a second here, dev-cluster in a few)
/// and returns its output. posix_spawn and waitpid, not Foundation's Process: the output goes
/// through a file (servers the tool daemonizes inherit it, and a pipe would not end while they
/// run), and Process.waitUntilExit was seen never to return after dev-cluster exited.
@discardableResult
func runTool(_ executable: String, _ args: [String]) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("relay-tool-\(UUID().uuidString)").path
    defer { unlink(file) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    guard spawned == 0 else { throw TestFailure("cannot start \(executable): \(spawned)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
    // WIFEXITED && WEXITSTATUS == 0
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
        throw TestFailure("\(executable) \(args.joined(separator: " ")) ended with status \(status): \(text)")
    }
    return text.hasSuffix("\n") ? String(text.dropLast()) : text
}

/// Polls an outside process's state (a server starting) every 50 ms, at most `timeout` s.
func waitUntil(_ timeout: Double, _ what: String, _ condition: () -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { throw TestFailure("timed out after \(timeout) s waiting for \(what)") }
        Thread.sleep(forTimeInterval: 0.05)
    }
}

/// A TCP port nobody listens on now (bound to port 0, then released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else { throw TestFailure("bind(127.0.0.1:0) failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether 127.0.0.1:port can be bound now.
func isFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
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
        guard ok else { close(fd); throw TestFailure("cannot listen") }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

extension EventLoop {
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
