// ChildProcess.swift: a child process the tests own (redis-server, relay, haproxy, chromium),
// and `ChildProcess.run`, the one way the tests run a tool to its end (redis-cli, dev-cluster,
// openssl, pgrep).
//
// Output (stdout and stderr together) goes to a log file so a failure can quote it.
// `stop` sends SIGTERM, waits a bounded time, then SIGKILL; every owner stops its child in
// tearDown. So that a crashed or killed test run leaves nothing behind, on Linux the child is
// started through `setpriv --pdeathsig` (util-linux), which signals it when the thread that
// started it exits: start children from the test's own thread, not from a short-lived worker
// thread.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

public final class ChildProcess {
    public let name: String
    public let logURL: URL
    private let process = Process()
    private var logHandle: FileHandle?

    /// Prepares (does not start) `executable arguments...` with `environment` (nil: inherit).
    /// `deathSignal` is what the child gets when the thread that started it exits.
    public init(name: String, executable: URL, arguments: [String], environment: [String: String]?, logURL: URL,
                deathSignal: String = "TERM") {
        self.name = name
        self.logURL = logURL
        #if os(Linux)
        if let setpriv = Self.findExecutable("setpriv") {
            process.executableURL = setpriv
            process.arguments = ["--pdeathsig", deathSignal, "--", executable.path] + arguments
        } else {
            process.executableURL = executable
            process.arguments = arguments
        }
        #else
        process.executableURL = executable
        process.arguments = arguments
        #endif
        if let environment { process.environment = environment }
    }

    /// Starts the process with its output appended to `logURL`.
    public func launch() throws {
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: logURL)
        handle.seekToEndOfFile()
        logHandle = handle
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        do {
            try process.run()
        } catch {
            throw HarnessError("cannot start \(name) (\(process.arguments ?? [])): \(error)")
        }
    }

    public var isRunning: Bool { process.isRunning }
    public var pid: Int32 { process.processIdentifier }

    /// Exit status once the process has exited (nil while it runs).
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Sends `signal` to the process if it runs.
    public func send(signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits up to `timeout` for the process to exit; true if it did.
    @discardableResult
    public func waitForExit(timeout: TimeInterval) -> Bool {
        let deadline = Deadline.after(timeout)
        while process.isRunning {
            if deadline.hasPassed { return false }
            usleep(10_000)
        }
        process.waitUntilExit()
        return true
    }

    /// SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status (nil if it was
    /// never started). Safe to call twice.
    @discardableResult
    public func stop(timeout: TimeInterval = 10) -> Int32? {
        guard process.processIdentifier != 0 else { return nil }
        if process.isRunning {
            send(signal: SIGTERM)
            if !waitForExit(timeout: timeout) {
                send(signal: SIGKILL)
                waitForExit(timeout: 10)
            }
        }
        try? logHandle?.close()
        logHandle = nil
        return process.isRunning ? nil : process.terminationStatus
    }

    /// The last `maxBytes` of the output, for failure messages.
    public func logTail(maxBytes: Int = 8_192) -> String {
        guard let data = try? Data(contentsOf: logURL) else { return "(no output captured)" }
        let tail = data.suffix(maxBytes)
        let text = String(decoding: tail, as: UTF8.self)
        return tail.count < data.count ? "…" + text : text
    }

    /// Full path of `command` found on PATH, or nil.
    public static func findExecutable(_ command: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(command)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    // MARK: Running a tool to its end

    /// How a tool run ended: its exit status (-1: killed by a signal) and its two outputs.
    public struct Outcome {
        public let status: Int32
        public let output: Data
        public let errors: Data
        public var text: String { String(decoding: output, as: UTF8.self) }
        public var errorText: String { String(decoding: errors, as: UTF8.self) }
    }

    /// Runs `command` (a name on PATH, or a path) to completion with `input` on stdin and
    /// returns its stdout; throws on a non-zero exit or if it takes longer than `timeout`.
    public static func run(_ command: String, _ arguments: [String], input: Data = Data(), timeout: TimeInterval = 10) throws -> Data {
        let outcome = try runToEnd(command, arguments, input: input, timeout: timeout)
        guard outcome.status == 0 else {
            throw HarnessError("\(command) \(arguments.joined(separator: " ")) exited \(outcome.status): "
                + outcome.errorText + (outcome.errors.isEmpty ? outcome.text : ""))
        }
        return outcome.output
    }

    /// `run` that reports a non-zero exit instead of throwing (it still throws when the tool
    /// cannot start or overruns `timeout`, after SIGKILL).
    ///
    /// posix_spawn and waitpid, not Foundation's Process, and files, not pipes: a tool that
    /// daemonizes servers (dev-cluster) leaves them holding its stdout, so a pipe would not
    /// end while they run, and Process.waitUntilExit was seen never to return after
    /// dev-cluster exited.
    public static func runToEnd(_ command: String, _ arguments: [String], input: Data = Data(),
                                timeout: TimeInterval = 10) throws -> Outcome {
        let executable: String
        if command.contains("/") {
            executable = command
        } else {
            guard let found = findExecutable(command) else { throw HarnessError("\(command) not found on PATH") }
            executable = found.path
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("relay-tool-\(UUID().uuidString)").path
        let (inPath, outPath, errPath) = (scratch + ".in", scratch + ".out", scratch + ".err")
        defer { for path in [inPath, outPath, errPath] { unlink(path) } }
        guard FileManager.default.createFile(atPath: inPath, contents: input) else { throw HarnessError("cannot write \(inPath)") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw HarnessError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        let deadline = Deadline.after(timeout)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw HarnessError("waitpid(\(command)): errno \(errno)") }
            if deadline.hasPassed {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                throw HarnessError("\(command) \(arguments.joined(separator: " ")) did not finish within \(timeout) s")
            }
            usleep(2_000)
        }
        let exited = status & 0x7f == 0
        return Outcome(status: exited ? (status >> 8) & 0xff : -1,
                       output: FileManager.default.contents(atPath: outPath) ?? Data(),
                       errors: FileManager.default.contents(atPath: errPath) ?? Data())
    }
}
