// RedisURLTests: the three URL forms (one instance, unix socket, cluster seeds) and the mistakes
// each refuses with a message.
import XCTest
@testable import RelayRedis
@testable import RelayStorage
import RelayIO

final class RedisURLTests: XCTestCase {
    func testSingleInstance() throws {
        XCTAssertEqual(try RedisURL.target("redis://10.0.0.5:6380"), .single(.tcp(host: "10.0.0.5", port: 6380)))
        XCTAssertEqual(try RedisURL.target("redis://redis.internal"), .single(.tcp(host: "redis.internal", port: 6379)))
        XCTAssertEqual(try RedisURL.target("redis://127.0.0.1:6379/0"), .single(.tcp(host: "127.0.0.1", port: 6379)))
        XCTAssertEqual(try RedisURL.target("redis://[::1]:6380"), .single(.tcp(host: "::1", port: 6380)))
        XCTAssertEqual(try RedisURL.target("unix:/run/redis.sock"), .single(.unix(path: "/run/redis.sock")))
        XCTAssertEqual(try RedisURL.target("unix:///run/redis.sock"), .single(.unix(path: "/run/redis.sock")))
        XCTAssertEqual(try RedisURL.parse("redis://h:1"), .tcp(host: "h", port: 1))
    }

    func testClusterSeeds() throws {
        XCTAssertEqual(try RedisURL.target("redis-cluster://127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102"),
                       .cluster(seeds: [.tcp(host: "127.0.0.1", port: 7100), .tcp(host: "127.0.0.1", port: 7101),
                                        .tcp(host: "127.0.0.1", port: 7102)]))
        XCTAssertEqual(try RedisURL.target("redis-cluster://redis-a:7000"), .cluster(seeds: [.tcp(host: "redis-a", port: 7000)]))
        XCTAssertEqual(try RedisURL.target("redis-cluster://a, b:7001/0"),
                       .cluster(seeds: [.tcp(host: "a", port: 6379), .tcp(host: "b", port: 7001)]), "spaces after commas, default port, /0")
        XCTAssertEqual(try RedisURL.target("redis-cluster://a:1,a:1,[::1]:2"),
                       .cluster(seeds: [.tcp(host: "a", port: 1), .tcp(host: "::1", port: 2)]), "a repeated seed counts once")
    }

    func testBadURLs() {
        let bad: [(String, String)] = [
            ("redis-cluster://", "at least one"),
            ("redis-cluster://a:1,,b:2", "empty seed"),
            ("redis-cluster://a:1,", "empty seed"),
            ("redis-cluster://a:0", "bad host or port"),
            ("redis-cluster://a:70000", "bad host or port"),
            ("redis-cluster://a:x", "bad host or port"),
            ("redis-cluster://:7000", "bad host or port"),
            ("redis-cluster://a:1:2", "bad host or port"),
            ("redis-cluster://user:pw@a:1", "passwords"),
            ("redis-cluster://a:1/3", "database 0"),
            ("redis-cluster://[::1:7000", "bad host or port"),
            ("redis://a:1/2", "database 0"),
            ("redis://", "bad host or port"),
            ("unix:", "path is empty"),
            ("http://a:1", "expected redis://"),
            ("rediss://a:1", "expected redis://"),
            ("a:1", "expected redis://"),
        ]
        for (url, message) in bad {
            XCTAssertThrowsError(try RedisURL.target(url), url) { error in
                XCTAssertTrue("\(error)".contains(message), "\(url): \(error)")
            }
        }
        XCTAssertThrowsError(try RedisURL.parse("redis-cluster://a:1"), "a cluster is not one endpoint")
    }
}
