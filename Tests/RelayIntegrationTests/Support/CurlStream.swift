// CurlStream.swift: a curl process whose output the test reads while it runs (SSE through
// haproxy over TLS and HTTP/2, where the harness's own HTTP/1.1 clients cannot go).
//
// stdout and stderr are collected separately as they arrive; `waitFor` polls the output
// (bounded); `waitForExit` returns curl's exit status (0: the response ended cleanly, for
// HTTP/2 an END_STREAM; 18/92: cut short). Always bound curl itself with --max-time; `stop()`
// (also on deinit) kills a curl that still runs.

#if canImport(Glibc)
import Glibc
#endif
import Foundation

final class CurlStream {
    let arguments: [String]
    private let process = Process()
    private let lock = NSLock()
    private var stdoutBytes = Data()
    private var stderrBytes = Data()
    private var pipesAtEOF = 0
    private let started = Date()
    private var exited: Date?

    /// Starts `curl arguments...`.
    init(_ arguments: [String]) throws {
        guard let curl = ChildProcess.findExecutable("curl") else {
            throw HarnessError("curl not found (Debian: apt-get install -y curl)")
        }
        self.arguments = arguments
        process.executableURL = curl
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        collect(out, into: \.stdoutBytes)
        collect(err, into: \.stderrBytes)
        process.terminationHandler = { [weak self] _ in
            guard let self else { return }
            self.lock.lock()
            self.exited = Date()
            self.lock.unlock()
        }
        try process.run()
    }

    deinit { stop() }

    /// What curl wrote to stdout so far.
    var output: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stdoutBytes, as: UTF8.self)
    }

    /// What curl wrote to stderr so far.
    var errors: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: stderrBytes, as: UTF8.self)
    }

    var isRunning: Bool { process.isRunning }

    /// Seconds from curl's start to its exit (or to now while it runs).
    var elapsed: TimeInterval {
        lock.lock()
        defer { lock.unlock() }
        return (exited ?? Date()).timeIntervalSince(started)
    }

    /// Waits until stdout contains `text`; throws (quoting the output) after `timeout`.
    func waitFor(_ text: String, timeout: TimeInterval = 10) throws {
        do {
            try waitUntil(timeout: timeout, "curl output to contain \(text.debugDescription)") { output.contains(text) }
        } catch {
            throw HarnessError("\(error)\ncurl \(arguments.joined(separator: " "))\nstdout:\n\(output)\nstderr:\n\(errors)")
        }
    }

    /// curl's exit status once it exits within `timeout`, else nil. Waits for the output pipes
    /// to drain too, so `output` is complete when this returns a status.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Deadline.after(timeout)
        while process.isRunning {
            if deadline.hasPassed { return nil }
            usleep(10_000)
        }
        process.waitUntilExit()
        // The readability handlers' last reads (both pipes at end of file), bounded.
        let drained = Deadline.after(2)
        while !drained.hasPassed {
            lock.lock()
            let done = pipesAtEOF == 2
            lock.unlock()
            if done { break }
            usleep(10_000)
        }
        return process.terminationStatus
    }

    /// Kills curl if it still runs.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Appends what `pipe` delivers to `bytes` until it reaches EOF (counted in pipesAtEOF).
    private func collect(_ pipe: Pipe, into bytes: ReferenceWritableKeyPath<CurlStream, Data>) {
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.unlock() }
            if data.isEmpty {
                handle.readabilityHandler = nil
                self.pipesAtEOF += 1
                return
            }
            self[keyPath: bytes].append(data)
        }
    }
}
