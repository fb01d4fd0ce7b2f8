// MillionScenarioTests.swift: the million-subscriber scenario (Benchmarks/scenarios/million.sh)
// end to end in its --smoke size (2,000 subscribers, 2 workers, 2 load processes, a few
// seconds), on this build's binaries: every subscriber connects, the broadcast reaches every
// one, with no gap or error, and the script stops what it started.

import XCTest
import Foundation

final class MillionScenarioTests: XCTestCase {
    func testSmokeRunEstablishesEverySubscriberAndTheBroadcastReachesAll() throws {
        let binaries = try RelayProcess.binaryURL().deletingLastPathComponent()
        let script = repositoryRoot.appendingPathComponent("Benchmarks/scenarios/million.sh").path
        let relayPort = try freeWildcardPort(), redisPort = try freeLocalPort()
        let outcome = try ChildProcess.runToEnd("/usr/bin/env", [
            "NO_BUILD=1", "BENCH_BIN_DIR=\(binaries.path)", "RELAY_BIN=\(binaries.appendingPathComponent("relay").path)",
            "RELAY_PORT=\(relayPort)", "REDIS_PORT=\(redisPort)", "BROADCAST_WAIT=20", "bash", script, "--smoke",
        ], timeout: 90)
        let output = outcome.text + outcome.errorText
        let line = try XCTUnwrap(outcome.text.split(separator: "\n").last { $0.hasPrefix("MILLION ") }, "no MILLION line in:\n\(output)")
        let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.dropFirst(8).utf8)) as? [String: Any])
        XCTAssertEqual(outcome.status, 0, output)
        XCTAssertEqual(result["established"] as? Int, 2000, output)
        XCTAssertEqual(result["receivers"] as? Int, 2000, "every subscriber got the broadcast record")
        XCTAssertEqual(result["gaps"] as? Int, 0)
        XCTAssertEqual(result["errors"] as? Int, 0)
        XCTAssertGreaterThan(result["relay_bytes_per_sub"] as? Int ?? 0, 0, "the relay's RSS grew with its subscribers")
        XCTAssertTrue(output.contains("kernel: nothing changed"), "no kernel setting is touched without --tune-kernel")
        // Nothing the script started is left: no relay listening on its port.
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = relayPort.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertNotEqual(connected, 0, "the relay was stopped")
        print("million smoke: \(line)")
    }

    /// A port free on every address and below the ephemeral range: the script's relay listens
    /// on 0.0.0.0, which a port the kernel handed to some connection (freeLocalPort's kind)
    /// may still hold on 127.0.0.1.
    private func freeWildcardPort() throws -> UInt16 {
        for _ in 0..<200 {
            let port = UInt16.random(in: 20_000..<32_000)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = INADDR_ANY
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if bound == 0 { return port }
        }
        throw HarnessError("no free port on 0.0.0.0 between 20000 and 32000")
    }
}
