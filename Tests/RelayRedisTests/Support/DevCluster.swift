// DevCluster: a real Redis Cluster for tests, started with scripts/dev-cluster (3 primaries,
// 3 replicas, cluster-node-timeout 2000 ms) on free loopback ports, stopped at the end.
// Admin commands go through redis-cli (plain, not -c: a wrong node answers MOVED).
import Foundation
import Glibc
import RelayIO
@testable import RelayRedis
@testable import RelayStorage

final class DevCluster {
    let dir: String
    let base: Int
    let seeds: [RedisEndpoint]

    private static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    static var available: Bool {
        ["redis-server", "redis-cli"].allSatisfy { tool in
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
                .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
        }
    }

    /// Starts a cluster on six consecutive free ports (their bus ports, +10000, free too).
    static func start() throws -> DevCluster {
        let dir = NSTemporaryDirectory() + "relay-dev-cluster-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var lastError = ""
        for _ in 0..<5 {
            let base = freeBase()
            let (status, output) = run(repoRoot.appendingPathComponent("scripts/dev-cluster").path,
                                       ["--port", String(base), "--dir", dir])
            if status == 0, let url = output.split(separator: "\n").last, url.hasPrefix("redis-cluster://") {
                guard case .cluster(let seeds) = try RedisURL.target(String(url)) else { break }
                let cluster = DevCluster(dir: dir, base: base, seeds: seeds)
                if cluster.waitForReplication() { return cluster }
                lastError = "the replicas did not sync within 30 s"
                cluster.stop()
                continue
            }
            lastError = output
            _ = run(repoRoot.appendingPathComponent("scripts/dev-cluster").path, ["stop", "--dir", dir])
        }
        throw NSError(domain: "DevCluster", code: 1, userInfo: [NSLocalizedDescriptionKey: "dev-cluster failed: \(lastError)"])
    }

    private init(dir: String, base: Int, seeds: [RedisEndpoint]) {
        self.dir = dir
        self.base = base
        self.seeds = seeds
    }

    func stop() {
        // Processes stopped with SIGSTOP by a failed test would not shut down.
        for port in base..<(base + 6) { if let pid = pid(port: port) { kill(pid, SIGCONT) } }
        _ = Self.run(Self.repoRoot.appendingPathComponent("scripts/dev-cluster").path, ["stop", "--dir", dir])
    }

    /// dev-cluster returns once every node agrees on the map, but a replica syncs with its
    /// primary only a few seconds later (repl-diskless-sync-delay, 5 s by default); until then
    /// CLUSTER SLOTS leaves it out, WAIT counts nobody and a failover has no candidate.
    /// Polls (no event to wait for in another process), 30 s at most.
    private func waitForReplication() -> Bool {
        for _ in 0..<300 {
            let replicasUp = (base..<(base + 6)).filter { cli($0, "INFO", "replication").contains("master_link_status:up") }.count
            if replicasUp == 3 { return true }
            usleep(100_000)
        }
        return false
    }

    /// The port of the primary's (first) replica, from its INFO replication ("slave0:ip=...,
    /// port=P,state=online,..."). CLUSTER SLOTS lists a replica only once gossip has carried
    /// its replication offset, a little after it synced.
    func replicaPort(ofPrimary port: Int) -> Int? {
        let info = cli(port, "INFO", "replication")
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("slave0:") }),
              let field = line.split(separator: ",").first(where: { $0.hasPrefix("port=") }) else { return nil }
        return Int(field.dropFirst("port=".count))
    }

    func pid(port: Int) -> pid_t? {
        (try? String(contentsOfFile: "\(dir)/\(port)/redis.pid", encoding: .utf8))
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// One command (or several, one per line, on one connection) through redis-cli.
    @discardableResult
    func cli(_ port: Int, _ args: String...) -> String {
        Self.run("/usr/bin/env", ["redis-cli", "-p", String(port)] + args).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func cli(_ port: Int, script lines: [String]) -> String {
        Self.run("/usr/bin/env", ["redis-cli", "-p", String(port)], stdin: lines.joined(separator: "\n") + "\n")
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A base port with base..base+5 and their bus ports free. Below 22768 so that the bus ports
    /// stay under the kernel's ephemeral range (32768 and up).
    private static func freeBase() -> Int {
        for _ in 0..<200 {
            let base = Int.random(in: 15_000...22_700)
            if (base..<(base + 6)).allSatisfy({ portIsFree($0) && portIsFree($0 + 10_000) }) { return base }
        }
        return 15_000
    }

    private static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Runs a tool to its end (posix_spawn and waitpid: Foundation's Process.waitUntilExit
    /// was seen to miss the exit of dev-cluster's shell and hang). Output: stdout and stderr.
    private static func run(_ executable: String, _ args: [String], stdin: String? = nil) -> (status: Int32, output: String) {
        let scratch = NSTemporaryDirectory() + "relay-dev-cluster-io-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer {
            unlink(scratch + ".out")
            unlink(scratch + ".in")
        }
        _ = FileManager.default.createFile(atPath: scratch + ".in", contents: Data((stdin ?? "").utf8))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, scratch + ".in", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, scratch + ".out", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        guard posix_spawn(&pid, executable, &actions, nil, argv, environ) == 0 else { return (-1, "cannot start \(executable)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: scratch + ".out", encoding: .utf8)) ?? ""
        return (status, output)
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
}

extension RedisEndpoint {
    var port: Int {
        if case .tcp(_, let port) = self { return port }
        return 0
    }
}
