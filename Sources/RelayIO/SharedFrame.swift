// SharedFrame: bytes framed once and written to many connections without copies. It holds
// the HTTP/1.1 chunk around the payload ("<hex length>\r\n<payload>\r\n"), so one frame serves
// every chunked stream as is, and HTTP/1.0 streams take the payload alone.
// Ownership: libevent holds one retain per queued reference (Unmanaged.passRetained) and
// releases it from the evbuffer cleanup callback once those bytes have left.
internal import CLibevent

public final class SharedFrame {
    private let storage: UnsafeMutableRawBufferPointer
    /// Payload bytes.
    public let count: Int
    /// Where the payload starts (after the chunk header).
    let payloadOffset: Int
    /// Chunk header, payload and trailing CRLF.
    let chunkedCount: Int

    public init(_ payload: [UInt8]) {
        let header = Array((String(payload.count, radix: 16) + "\r\n").utf8)
        let total = header.count + payload.count + 2
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 1)
        header.withUnsafeBytes { storage.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: header.count) }
        payload.withUnsafeBytes { raw in
            if let base = raw.baseAddress { (storage.baseAddress! + header.count).copyMemory(from: base, byteCount: payload.count) }
        }
        storage[total - 2] = 0x0D
        storage[total - 1] = 0x0A
        self.storage = storage
        count = payload.count
        payloadOffset = header.count
        chunkedCount = total
    }

    deinit { storage.deallocate() }

    var bytes: UnsafeRawPointer { UnsafeRawPointer(storage.baseAddress!) }

    /// Queues `length` bytes from `offset` by reference; false if libevent refused (then no
    /// retain is left behind and the bytes are not queued).
    func addReference(to buffer: OpaquePointer?, offset: Int, length: Int) -> Bool {
        let retained = Unmanaged.passRetained(self).toOpaque()
        let added = evbuffer_add_reference(buffer, storage.baseAddress! + offset, length, { _, _, arg in
            guard let arg else { return }
            Unmanaged<SharedFrame>.fromOpaque(arg).release()
        }, retained)
        if added != 0 { Unmanaged<SharedFrame>.fromOpaque(retained).release() }
        return added == 0
    }
}
