// FreePorts.swift: the one free-port helper of the tests: a single TCP port on 127.0.0.1 (the
// kernel picks it), or a run of consecutive ports (a Redis Cluster's nodes) whose cluster-bus
// ports are free too. Free "a moment ago": whoever binds it next may lose a race with another
// process, which is why the cluster launcher retries on another range.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

#if canImport(Glibc)
private let streamSocketType = Int32(SOCK_STREAM.rawValue)
#else
private let streamSocketType = SOCK_STREAM
#endif

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read it back, close).
public func freeLocalPort() throws -> UInt16 {
    let (fd, port) = try bindLoopback(port: 0)
    close(fd)
    return port
}

/// The first of `count` consecutive ports on 127.0.0.1 that are free, each with port +
/// `busOffset` free too (a cluster node's bus port; nil: no second port). Drawn at random from
/// 15000-22767, so that the bus ports (+10000) stay under the kernel's ephemeral range (32768
/// and up), where freeLocalPort's ports and outgoing connections come from.
public func freeLocalPortRange(count: Int, busOffset: Int? = 10_000) throws -> UInt16 {
    let last = 22_767 - count
    for _ in 0..<200 {
        let base = Int.random(in: 15_000...last)
        let ports = (base..<(base + count)).flatMap { port in [port] + (busOffset.map { [port + $0] } ?? []) }
        if ports.allSatisfy({ isLocalPortFree(UInt16($0)) }) { return UInt16(base) }
    }
    throw HarnessError("no \(count) consecutive free ports on 127.0.0.1 after 200 tries")
}

/// Whether 127.0.0.1:`port` can be bound now.
public func isLocalPortFree(_ port: UInt16) -> Bool {
    guard let (fd, _) = try? bindLoopback(port: port) else { return false }
    close(fd)
    return true
}

/// A socket bound to 127.0.0.1:`port` (0: any) and the port it got.
private func bindLoopback(port: UInt16) throws -> (Int32, UInt16) {
    let fd = socket(AF_INET, streamSocketType, 0)
    guard fd >= 0 else { throw HarnessError("socket(): errno \(errno)") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else {
        let code = errno
        close(fd)
        throw HarnessError("bind(127.0.0.1:\(port)): errno \(code)")
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}
