// RelayProcess.swift: the relay binary under test, as a child process.
//
// Binary: $RELAY_BIN, else `relay` next to the test executable (SwiftPM builds both into
// .build/<triple>/debug). Started as `relay serve --listen 127.0.0.1:<port> --redis <url>`
// with RELAY_ENVIRONMENTS set to the two test environments (TestEnvironments.json);
// callers may add arguments and override environment variables. `start` returns once
// GET /healthz answers 200 (polled every 50 ms, 30 s at most).

import Foundation

final class RelayProcess {
    let port: UInt16
    let redisURL: String
    let extraArguments: [String]
    let environmentOverrides: [String: String]
    let directory: URL
    private var child: ChildProcess?

    var http: HTTPClient { HTTPClient(port: port) }
    var isRunning: Bool { child?.isRunning ?? false }
    /// The relay's process id while it runs.
    var pid: Int32? { child?.pid }
    var logURL: URL { directory.appendingPathComponent("relay.log") }

    init(redisURL: String, port: UInt16? = nil, extraArguments: [String] = [],
         environment overrides: [String: String] = [:]) throws {
        self.port = try port ?? freeLocalPort()
        self.redisURL = redisURL
        self.extraArguments = extraArguments
        environmentOverrides = overrides
        directory = try makeTemporaryDirectory(prefix: "relay-it-relay")
    }

    var arguments: [String] {
        // No Redis URL: the relay's embedded redis-server.
        ["serve", "--listen", "127.0.0.1:\(port)"] + (redisURL.isEmpty ? [] : ["--redis", redisURL]) + extraArguments
    }

    /// Launches the relay and waits until /healthz answers 200. On failure the error quotes
    /// the relay's output and the process is stopped.
    func start(timeout: TimeInterval = 30) throws {
        guard child == nil else { throw HarnessError("relay on port \(port) already started") }
        var environment = ProcessInfo.processInfo.environment
        environment["RELAY_ENVIRONMENTS"] = TestEnvironments.json
        for (name, value) in environmentOverrides { environment[name] = value }
        let process = ChildProcess(name: "relay", executable: try Self.binaryURL(), arguments: arguments,
                                   environment: environment, logURL: logURL)
        try process.launch()
        child = process
        let health = HTTPClient(port: port, timeout: 1)
        let tls = environmentOverrides["RELAY_TLS_CERT_FILE"].map { !$0.isEmpty } ?? false
        do {
            try waitUntil(timeout: timeout, "relay on port \(port) to answer GET /healthz with 200") {
                guard process.isRunning else {
                    throw HarnessError("relay exited with status \(process.exitStatus ?? -1) before becoming healthy")
                }
                if tls {
                    // HTTPS: the harness's client speaks plain HTTP only.
                    let curl = try CurlStream(["-k", "-sS", "--max-time", "1", "-o", "/dev/null", "-w", "%{http_code}",
                                               "https://127.0.0.1:\(port)/healthz"])
                    return curl.waitForExit(timeout: 3) == 0 && curl.output == "200"
                }
                return (try? health.request("GET", "/healthz"))?.status == 200
            }
        } catch {
            stop()
            throw HarnessError("\(error)\ncommand: relay \(arguments.joined(separator: " "))\nrelay output:\n\(process.logTail())")
        }
    }

    /// SIGTERM, up to `timeout` to exit, then SIGKILL. Returns the exit status.
    @discardableResult
    func stop(timeout: TimeInterval = 15) -> Int32? {
        defer { child = nil }
        return child?.stop(timeout: timeout)
    }

    /// Stops and starts again on the same port.
    func restart(timeout: TimeInterval = 30) throws {
        stop()
        try start(timeout: timeout)
    }

    /// Sends a signal (SIGTERM for drain tests) without waiting.
    func send(signal: Int32) { child?.send(signal: signal) }

    func waitForExit(timeout: TimeInterval) -> Int32? {
        guard let child, child.waitForExit(timeout: timeout) else { return nil }
        return child.exitStatus
    }

    /// The relay's recent output, for failure messages.
    func logTail(maxBytes: Int = 8_192) -> String { child?.logTail(maxBytes: maxBytes) ?? "(relay not running)" }

    /// Stops the relay and removes its directory.
    func destroy() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Where the relay binary is: $RELAY_BIN, else a `relay` executable beside (or a few
    /// folders above) the running test binary or bundle.
    static func binaryURL() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["RELAY_BIN"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw HarnessError("RELAY_BIN=\(path) is not an executable file")
            }
            return URL(fileURLWithPath: path)
        }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let starts = [
            URL(fileURLWithPath: CommandLine.arguments[0], relativeTo: cwd).standardizedFileURL.deletingLastPathComponent(),
            Bundle.main.bundleURL,
            Bundle(for: RelayProcess.self).bundleURL,
        ]
        var searched: [String] = []
        for start in starts {
            var directory = start.standardizedFileURL
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent("relay")
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                   FileManager.default.isExecutableFile(atPath: candidate.path) {
                    return candidate
                }
                searched.append(directory.path)
                directory.deleteLastPathComponent()
            }
        }
        throw HarnessError("relay binary not found (set RELAY_BIN, or build it with `swift build`); looked in: "
            + searched.joined(separator: ", "))
    }
}
