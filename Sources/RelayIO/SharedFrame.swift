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
        let headerCount = Self.chunkHeaderCount(payload.count)
        let total = headerCount + payload.count + 2
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 1)
        Self.writeChunkHeader(payload.count, into: storage, count: headerCount)
        payload.withUnsafeBytes { raw in
            if let base = raw.baseAddress { (storage.baseAddress! + headerCount).copyMemory(from: base, byteCount: payload.count) }
        }
        storage[total - 2] = 0x0D
        storage[total - 1] = 0x0A
        self.storage = storage
        count = payload.count
        payloadOffset = headerCount
        chunkedCount = total
    }

    /// The length of "<hex length>\r\n" (built in place, per record: no String on the way).
    static func chunkHeaderCount(_ length: Int) -> Int {
        var digits = 1
        var rest = length >> 4
        while rest > 0 { digits += 1; rest >>= 4 }
        return digits + 2
    }

    static func writeChunkHeader(_ length: Int, into storage: UnsafeMutableRawBufferPointer, count: Int) {
        let hex: StaticString = "0123456789abcdef"
        var rest = length
        var at = count - 3
        repeat {
            storage[at] = hex.utf8Start[rest & 0xF]
            rest >>= 4
            at -= 1
        } while at >= 0
        storage[count - 2] = 0x0D
        storage[count - 1] = 0x0A
    }

    /// The frame's bytes as queued on a chunked stream (header, payload, CRLF), for tests.
    var chunkedBytes: [UInt8] { Array(UnsafeRawBufferPointer(start: storage.baseAddress, count: chunkedCount)) }

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
