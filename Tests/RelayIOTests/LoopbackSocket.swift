// LoopbackSocket.swift: a raw TCP client socket to 127.0.0.1, for tests that need to control
// exactly what a client sends and reads (the relay's own HTTP client would hide it).
#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP socket connected to 127.0.0.1:`port`, or nil. `receiveBuffer`: SO_RCVBUF (a
/// small one makes a backlog build quickly); `readTimeoutSeconds`: SO_RCVTIMEO.
func connectLoopback(port: UInt16, receiveBuffer: Int32? = nil, readTimeoutSeconds: Int? = nil) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    if var size = receiveBuffer {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    if let seconds = readTimeoutSeconds {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(fd)
        return nil
    }
    return fd
}
