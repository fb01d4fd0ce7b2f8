// ChildProcess.swift: a child process the tests own (redis-server, relay, openssl).
//
// Output (stdout and stderr together) goes to a log file so a failure can quote it.
// `stop` sends SIGTERM, waits a bounded time, then SIGKILL; every owner stops its child in
// tearDown. So that a crashed or killed test run leaves no redis-server or relay behind, on
// Linux the child is started through `setpriv --pdeathsig TERM` (util-linux), which signals
// it when the thread that started it exits: start children from the test's own thread, not
// from a short-lived worker thread.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

final class ChildProcess {
    let name: String
    let logURL: URL
    private let process = Process()
    private var logHandle: FileHandle?

    /// Prepares (does not start) `executable arguments...` with `environment` (nil: inherit).
    init(name: String, executable: URL, arguments: [String], environment: [String: String]?, logURL: URL) {
        self.name = name
        self.logURL = logURL
        #if os(Linux)
        if let setpriv = Self.findExecutable("setpriv") {
            process.executableURL = setpriv
            process.arguments = ["--pdeathsig", "TERM", "--", executable.path] + arguments
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
    func launch() throws {
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

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// Exit status once the process has exited (nil while it runs).
    var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Sends `signal` to the process if it runs.
    func send(signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// Waits up to `timeout` for the process to exit; true if it did.
    @discardableResult
    func waitForExit(timeout: TimeInterval) -> Bool {
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
    func stop(timeout: TimeInterval = 10) -> Int32? {
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
    func logTail(maxBytes: Int = 8_192) -> String {
        guard let data = try? Data(contentsOf: logURL) else { return "(no output captured)" }
        let tail = data.suffix(maxBytes)
        let text = String(decoding: tail, as: UTF8.self)
        return tail.count < data.count ? "…" + text : text
    }

    /// Full path of `command` found on PATH, or nil.
    static func findExecutable(_ command: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(command)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Runs `command` to completion with `input` on stdin and returns its stdout; throws on a
    /// non-zero exit or if it takes longer than `timeout`.
    static func run(_ command: String, _ arguments: [String], input: Data = Data(), timeout: TimeInterval = 10) throws -> Data {
        guard let executable = findExecutable(command) else { throw HarnessError("\(command) not found on PATH") }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        // Small outputs only (a digest, a line): read to EOF, then reap.
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        let deadline = Deadline.after(timeout)
        while process.isRunning {
            if deadline.hasPassed {
                kill(process.processIdentifier, SIGKILL)
                throw HarnessError("\(command) did not finish within \(timeout) s")
            }
            usleep(1_000)
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HarnessError("\(command) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                + String(decoding: errors, as: UTF8.self))
        }
        return output
    }
}

/// A fresh temporary directory for one harness object.
func makeTemporaryDirectory(prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.lowercased())")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
