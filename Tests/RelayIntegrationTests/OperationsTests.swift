// OperationsTests.swift: CORS (docs/API.md, CORS) and `relay serve --workers N` (a supervisor
// restarts a worker that dies; the workers share the port).

import XCTest
import Foundation

final class CORSTests: RelayTestCase {
    func testPreflightAndResponsesCarryCORSHeaders() throws {
        let session = try api.newSession()
        let preflight = try http.request("OPTIONS", RelayAPI.channelPath(session, "out"), headers: [
            ("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "last-event-id, timeout-seconds"),
        ])
        XCTAssertEqual(preflight.status, 204)
        XCTAssertEqual(preflight.headers["Access-Control-Allow-Origin"], "*")
        let allowed = (preflight.headers["Access-Control-Allow-Headers"] ?? "").lowercased()
        for header in ["authorization", "last-event-id", "timeout-seconds", "x-part-id"] {
            XCTAssertTrue(allowed.contains(header), "\(header) in \(allowed)")
        }
        XCTAssertTrue((preflight.headers["Access-Control-Allow-Methods"] ?? "").contains("GET"))
        let get = try api.http.request("GET", RelayAPI.sessionPath(session), headers: [("Origin", "https://app.example")])
        XCTAssertEqual(get.headers["Access-Control-Allow-Origin"], "*")
        XCTAssertTrue((get.headers["Access-Control-Expose-Headers"] ?? "").contains("X-Relay-First-Id"))
        XCTAssertTrue((get.headers["Access-Control-Expose-Headers"] ?? "").contains("X-Request-Id"),
                      "browsers may read the request id of a failed request")
    }
}

final class RestrictedCORSTests: RelayTestCase {
    override class var relayEnvironment: [String: String] { ["RELAY_ALLOWED_ORIGINS": "https://good.example"] }

    func testOnlyConfiguredOriginsAreAllowed() throws {
        let good = try http.request("OPTIONS", RelayAPI.sessionsPath, headers: [("Origin", "https://good.example")])
        XCTAssertEqual(good.headers["Access-Control-Allow-Origin"], "https://good.example")
        XCTAssertEqual(good.headers["Vary"], "Origin")
        let bad = try http.request("OPTIONS", RelayAPI.sessionsPath, headers: [("Origin", "https://evil.example")])
        XCTAssertNil(bad.headers["Access-Control-Allow-Origin"])
    }
}

final class WorkersTests: RelayTestCase {
    /// Child processes of `pid`, from /proc.
    private func children(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == pid
        }
    }

    func testSupervisorRestartsADeadWorkerAndTheWorkersShareThePort() throws {
        let port = try freeLocalPort()
        let directory = try makeTemporaryDirectory(prefix: "relay-it-workers")
        var environment = ProcessInfo.processInfo.environment
        environment["RELAY_ENVIRONMENTS"] = TestEnvironments.json
        let supervisor = ChildProcess(
            name: "relay-workers", executable: try RelayProcess.binaryURL(),
            arguments: ["serve", "--listen", "127.0.0.1:\(port)", "--redis", redis.url, "--workers", "2"],
            environment: environment, logURL: directory.appendingPathComponent("relay.log"))
        try supervisor.launch()
        defer { _ = supervisor.stop(timeout: 10) }
        let client = HTTPClient(port: port, timeout: 2)
        var workers: [Int32] = []
        try waitUntil(timeout: 30, "two workers answering on port \(port)") {
            workers = children(of: supervisor.pid)
            return workers.count == 2 && (try? client.request("GET", "/readyz"))?.status == 200
        }
        // Both workers serve the port: requests land on both nodes (a worker may still be
        // starting when the first one answers, so this waits for it, bounded).
        var nodes = Set<String>()
        try waitUntil(timeout: 15, "SO_REUSEPORT to spread connections over both workers (seen: \(nodes))") {
            for _ in 0..<20 { if let node = try? client.request("GET", "/healthz").headers["X-Relay-Node"] { nodes.insert(node) } }
            return nodes.count == 2
        }

        kill(workers[0], SIGKILL)
        try waitUntil(timeout: 15, "the supervisor to start a new worker") {
            let now = children(of: supervisor.pid)
            return now.count == 2 && !now.contains(workers[0])
        }
        try waitUntil(timeout: 15, "the port to answer from both workers again") {
            var seen = Set<String>()
            for _ in 0..<40 { if let node = try? client.request("GET", "/healthz").headers["X-Relay-Node"] { seen.insert(node) } }
            return seen.count == 2
        }
        XCTAssertEqual(try client.request("GET", "/readyz").status, 200)
    }
}
