// HTTP2Frames.swift: a raw HTTP/2 client for the hostile-input tests (h2c with prior knowledge
// over a plain TCP connection). It writes frames exactly as told, valid or not, and reads the
// server's frames (9-byte header and payload) with bounded waits. It encodes HPACK as literal
// fields without indexing and without Huffman coding, and never decodes the server's header
// blocks (status codes are checked with curl --http2-prior-knowledge instead).
//
// Sends tolerate a server that stops reading or hangs up: a send that fails marks the client
// `sendFailed` instead of throwing, because the attacks under test expect exactly that.

import Foundation

enum H2 {
    enum FrameType: UInt8 {
        case data = 0x0, headers = 0x1, priority = 0x2, rstStream = 0x3, settings = 0x4
        case pushPromise = 0x5, ping = 0x6, goaway = 0x7, windowUpdate = 0x8, continuation = 0x9
    }

    enum Flag {
        static let endStream: UInt8 = 0x1
        static let ack: UInt8 = 0x1
        static let endHeaders: UInt8 = 0x4
        static let padded: UInt8 = 0x8
        static let priority: UInt8 = 0x20
    }

    enum ErrorCode {
        static let noError: UInt32 = 0x0
        static let protocolError: UInt32 = 0x1
        static let internalError: UInt32 = 0x2
        static let flowControlError: UInt32 = 0x3
        static let streamClosed: UInt32 = 0x5
        static let frameSizeError: UInt32 = 0x6
        static let refusedStream: UInt32 = 0x7
        static let cancel: UInt32 = 0x8
        static let compressionError: UInt32 = 0x9
        static let enhanceYourCalm: UInt32 = 0xb

        static func name(_ code: UInt32) -> String {
            let names: [UInt32: String] = [
                0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR", 0x3: "FLOW_CONTROL_ERROR",
                0x4: "SETTINGS_TIMEOUT", 0x5: "STREAM_CLOSED", 0x6: "FRAME_SIZE_ERROR", 0x7: "REFUSED_STREAM",
                0x8: "CANCEL", 0x9: "COMPRESSION_ERROR", 0xa: "CONNECT_ERROR", 0xb: "ENHANCE_YOUR_CALM",
                0xc: "INADEQUATE_SECURITY", 0xd: "HTTP_1_1_REQUIRED",
            ]
            return "\(names[code] ?? "UNKNOWN")(0x\(String(code, radix: 16)))"
        }
    }

    enum Setting {
        static let headerTableSize: UInt16 = 0x1
        static let enablePush: UInt16 = 0x2
        static let maxConcurrentStreams: UInt16 = 0x3
        static let initialWindowSize: UInt16 = 0x4
        static let maxFrameSize: UInt16 = 0x5
        static let maxHeaderListSize: UInt16 = 0x6
    }

    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    // MARK: Encoding

    /// One frame: the 9-byte header (24-bit length, type, flags, 31-bit stream id) and payload.
    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let n = payload.count
        return [UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n),
                type, flags] + be32(stream & 0x7FFF_FFFF) + payload
    }

    static func frame(_ type: FrameType, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        frame(type.rawValue, flags: flags, stream: stream, payload)
    }

    static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    static func settings(_ entries: [(UInt16, UInt32)] = []) -> [UInt8] {
        frame(.settings, entries.flatMap { be16($0.0) + be32($0.1) })
    }

    static let settingsAck = frame(.settings, flags: Flag.ack)

    /// HEADERS carrying `block` (an HPACK fragment); END_HEADERS unless `endHeaders` is false.
    static func headers(stream: UInt32, block: [UInt8], endStream: Bool = false, endHeaders: Bool = true) -> [UInt8] {
        frame(.headers, flags: (endStream ? Flag.endStream : 0) | (endHeaders ? Flag.endHeaders : 0), stream: stream, block)
    }

    static func headers(stream: UInt32, _ fields: [(String, String)], endStream: Bool = false, endHeaders: Bool = true) -> [UInt8] {
        headers(stream: stream, block: hpack(fields), endStream: endStream, endHeaders: endHeaders)
    }

    static func continuation(stream: UInt32, block: [UInt8], endHeaders: Bool = false) -> [UInt8] {
        frame(.continuation, flags: endHeaders ? Flag.endHeaders : 0, stream: stream, block)
    }

    static func data(stream: UInt32, _ bytes: [UInt8], endStream: Bool = false) -> [UInt8] {
        frame(.data, flags: endStream ? Flag.endStream : 0, stream: stream, bytes)
    }

    static func rstStream(stream: UInt32, code: UInt32 = ErrorCode.cancel) -> [UInt8] {
        frame(.rstStream, stream: stream, be32(code))
    }

    static func ping(_ opaque: UInt64 = 0, ack: Bool = false) -> [UInt8] {
        frame(.ping, flags: ack ? Flag.ack : 0, (0..<8).map { UInt8(truncatingIfNeeded: opaque >> (56 - 8 * $0)) })
    }

    static func priority(stream: UInt32, dependsOn: UInt32 = 0, weight: UInt8 = 15, exclusive: Bool = false) -> [UInt8] {
        frame(.priority, stream: stream, be32(dependsOn | (exclusive ? 0x8000_0000 : 0)) + [weight])
    }

    static func windowUpdate(stream: UInt32 = 0, increment: UInt32) -> [UInt8] {
        frame(.windowUpdate, stream: stream, be32(increment))
    }

    static func goaway(lastStream: UInt32 = 0, code: UInt32 = ErrorCode.noError) -> [UInt8] {
        frame(.goaway, be32(lastStream) + be32(code))
    }

    // MARK: HPACK (RFC 7541), encoding only

    /// An HPACK integer with an `prefixBits`-bit prefix; `firstByte` carries the representation's
    /// pattern bits above the prefix (section 5.1).
    static func hpackInteger(_ value: Int, prefixBits: Int, firstByte: UInt8 = 0) -> [UInt8] {
        let limit = (1 << prefixBits) - 1
        if value < limit { return [firstByte | UInt8(value)] }
        var bytes = [firstByte | UInt8(limit)]
        var rest = value - limit
        while rest >= 128 {
            bytes.append(UInt8(rest & 0x7F) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
        return bytes
    }

    /// A string literal without Huffman coding (H bit 0, 7-bit prefix length).
    static func hpackString(_ bytes: [UInt8]) -> [UInt8] {
        hpackInteger(bytes.count, prefixBits: 7) + bytes
    }

    /// One field as "literal header field without indexing, new name" (0x00, section 6.2.2).
    static func hpackLiteral(_ name: [UInt8], _ value: [UInt8]) -> [UInt8] {
        [0x00] + hpackString(name) + hpackString(value)
    }

    static func hpack(_ fields: [(String, String)]) -> [UInt8] {
        fields.flatMap { hpackLiteral(Array($0.0.utf8), Array($0.1.utf8)) }
    }

    /// A dynamic table size update (section 6.3).
    static func hpackTableSizeUpdate(_ size: Int) -> [UInt8] {
        hpackInteger(size, prefixBits: 5, firstByte: 0x20)
    }

    /// The pseudo-header fields of a request, then `extra`.
    static func request(_ method: String = "GET", _ path: String, authority: String = "relay", scheme: String = "http",
                        _ extra: [(String, String)] = []) -> [(String, String)] {
        [(":method", method), (":scheme", scheme), (":path", path), (":authority", authority)] + extra
    }
}

/// A frame read from the server.
struct H2Frame: CustomStringConvertible {
    let type: UInt8
    let flags: UInt8
    let stream: UInt32
    let payload: [UInt8]

    var kind: H2.FrameType? { H2.FrameType(rawValue: type) }

    /// The error code of an RST_STREAM or GOAWAY frame.
    var errorCode: UInt32? {
        switch kind {
        case .rstStream where payload.count >= 4: return Self.u32(payload, 0)
        case .goaway where payload.count >= 8: return Self.u32(payload, 4)
        default: return nil
        }
    }

    /// GOAWAY's last stream id.
    var lastStream: UInt32? { kind == .goaway && payload.count >= 8 ? Self.u32(payload, 0) & 0x7FFF_FFFF : nil }

    /// SETTINGS entries (id, value).
    var settings: [(UInt16, UInt32)] {
        guard kind == .settings else { return [] }
        return stride(from: 0, to: payload.count - payload.count % 6, by: 6).map {
            (UInt16(payload[$0]) << 8 | UInt16(payload[$0 + 1]), Self.u32(payload, $0 + 2))
        }
    }

    var description: String {
        let name = kind.map { "\($0)" } ?? "type0x\(String(type, radix: 16))"
        var text = "\(name)(stream \(stream), flags 0x\(String(flags, radix: 16)), \(payload.count) bytes"
        if let errorCode { text += ", \(H2.ErrorCode.name(errorCode))" }
        if kind == .goaway, payload.count > 8 { text += ", debug \(String(decoding: payload[8...], as: UTF8.self).debugDescription)" }
        return text + ")"
    }

    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }
}

/// One h2c connection driven frame by frame.
final class H2Connection {
    let connection: RawConnection
    private var buffer: [UInt8] = []
    private var start = 0
    /// The server closed (EOF or reset).
    private(set) var closed = false
    /// A send failed (the server stopped reading or hung up).
    private(set) var sendFailed = false
    /// Every frame read so far, in order.
    private(set) var received: [H2Frame] = []

    /// Connects, sends the preface and a SETTINGS frame with `settings` (unless `preface` is
    /// false). `receiveBuffer`: a small socket buffer makes a client that does not read push
    /// back on the server sooner.
    init(port: UInt16, settings: [(UInt16, UInt32)] = [], preface: Bool = true, receiveBuffer: Int32? = nil) throws {
        connection = try RawConnection(port: port, receiveBuffer: receiveBuffer)
        if preface { try send(H2.preface + H2.settings(settings)) }
    }

    deinit { connection.close() }

    func close() { connection.close() }

    /// Sends `bytes`, throwing only on a timeout of a server that is still reading.
    func send(_ bytes: [UInt8], timeout: TimeInterval = 5) throws {
        try connection.send(bytes, timeout: timeout)
    }

    /// Sends `bytes`; true if all of them went. A failure (EPIPE, ECONNRESET, timeout) is noted.
    @discardableResult
    func trySend(_ bytes: [UInt8], timeout: TimeInterval = 5) -> Bool {
        guard !sendFailed else { return false }
        do {
            try connection.send(bytes, timeout: timeout)
            return true
        } catch {
            sendFailed = true
            return false
        }
    }

    /// Sends the preface's SETTINGS answer: reads until the server's SETTINGS arrives, ACKs it.
    /// Returns the server's settings.
    @discardableResult
    func handshake(timeout: TimeInterval = 5) throws -> [(UInt16, UInt32)] {
        let deadline = Deadline.after(timeout)
        while true {
            guard let frame = try readFrame(deadline: deadline) else {
                throw HarnessError("the server closed before sending its SETTINGS; frames: \(received)")
            }
            if frame.kind == .settings && frame.flags & H2.Flag.ack == 0 {
                try send(H2.settingsAck)
                return frame.settings
            }
        }
    }

    /// The next frame, nil once the server has closed; throws when nothing whole arrives by
    /// `deadline`.
    func readFrame(deadline: Deadline) throws -> H2Frame? {
        guard try fill(9, deadline: deadline) else { return nil }
        let length = Int(buffer[start]) << 16 | Int(buffer[start + 1]) << 8 | Int(buffer[start + 2])
        guard try fill(9 + length, deadline: deadline) else { return nil }
        let b = buffer[start..<(start + 9 + length)]
        let frame = H2Frame(type: b[b.startIndex + 3], flags: b[b.startIndex + 4],
                            stream: H2Frame.u32(Array(b[(b.startIndex + 5)..<(b.startIndex + 9)]), 0) & 0x7FFF_FFFF,
                            payload: Array(b[(b.startIndex + 9)...]))
        start += 9 + length
        if start > 1 << 20 {
            buffer.removeFirst(start)
            start = 0
        }
        received.append(frame)
        return frame
    }

    /// Whether `count` bytes are buffered (reading as needed); false at end of stream.
    private func fill(_ count: Int, deadline: Deadline) throws -> Bool {
        while buffer.count - start < count {
            if closed { return false }
            do {
                let bytes = try connection.socket.receive(deadline: deadline)
                if bytes.isEmpty {
                    closed = true
                    return false
                }
                buffer.append(contentsOf: bytes)
            } catch let error as HarnessError where error.description.contains("nothing within the deadline") {
                throw HarnessError("no complete frame within the deadline (\(buffer.count - start) bytes buffered); "
                    + "frames so far: \(received.suffix(20))")
            } catch {
                closed = true   // ECONNRESET and the like: the server is gone
                return false
            }
        }
        return true
    }

    /// Reads frames until `match` returns a value, the server closes (nil) or `timeout` passes
    /// (throws).
    func waitFor<T>(timeout: TimeInterval, _ what: String, _ match: (H2Frame) -> T?) throws -> T? {
        let deadline = Deadline.after(timeout)
        while true {
            let frame: H2Frame?
            do {
                frame = try readFrame(deadline: deadline)
            } catch {
                throw HarnessError("waiting \(timeout) s for \(what): \(error)")
            }
            guard let frame else { return nil }
            if let value = match(frame) { return value }
        }
    }

    /// The error code of the first GOAWAY, or nil if the server closed without one.
    func waitForGoaway(timeout: TimeInterval = 10) throws -> UInt32? {
        try waitFor(timeout: timeout, "a GOAWAY") { $0.kind == .goaway ? $0.errorCode : nil }
    }

    /// The error code of an RST_STREAM on `stream`, or nil if the server closed without one.
    func waitForReset(stream: UInt32, timeout: TimeInterval = 10) throws -> UInt32? {
        try waitFor(timeout: timeout, "RST_STREAM on stream \(stream)") {
            $0.kind == .rstStream && $0.stream == stream ? $0.errorCode : nil
        }
    }

    /// Reads (and keeps) frames until the server closes; false if it has not within `timeout`.
    func waitForClose(timeout: TimeInterval = 10) -> Bool {
        let deadline = Deadline.after(timeout)
        while !closed {
            do {
                guard try readFrame(deadline: deadline) != nil else { return true }
            } catch {
                return false
            }
        }
        return true
    }

    /// Reads whatever frames arrive within `seconds` (a quiet period is not an error).
    func drain(for seconds: TimeInterval) {
        let deadline = Deadline.after(seconds)
        while !closed, !deadline.hasPassed {
            if (try? readFrame(deadline: deadline)) == nil { break }
        }
    }

    /// GOAWAY frames received so far.
    var goaways: [H2Frame] { received.filter { $0.kind == .goaway } }
}

extension H2 {
    /// The :status of a response header block, when the block opens with it in a form this
    /// small decoder knows: an indexed static entry (200, 204, 206, 304, 400, 404, 500) or a
    /// literal with the static name :status and a value of digits, raw or Huffman-coded. nil
    /// otherwise (a dynamic table index, say: a status seen earlier on the same connection).
    static func responseStatus(_ block: [UInt8]) -> Int? {
        var at = 0
        while at < block.count, block[at] & 0xE0 == 0x20 {   // dynamic table size updates
            guard integer(block, &at, prefixBits: 5) != nil else { return nil }
        }
        guard at < block.count else { return nil }
        let first = block[at]
        if first & 0x80 != 0 {
            guard let index = integer(block, &at, prefixBits: 7) else { return nil }
            let statics = [8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500]
            return statics[index]
        }
        let prefix = first & 0xC0 == 0x40 ? 6 : 4
        guard let nameIndex = integer(block, &at, prefixBits: prefix), (8...14).contains(nameIndex), at < block.count else {
            return nil
        }
        let huffman = block[at] & 0x80 != 0
        guard let length = integer(block, &at, prefixBits: 7), at + length <= block.count else { return nil }
        let value = Array(block[at..<(at + length)])
        let digits = huffman ? huffmanDigits(value) : String(decoding: value, as: UTF8.self)
        return digits.flatMap { Int($0) }
    }

    /// Decodes an HPACK integer at `at` (advancing it).
    private static func integer(_ bytes: [UInt8], _ at: inout Int, prefixBits: Int) -> Int? {
        guard at < bytes.count else { return nil }
        let limit = (1 << prefixBits) - 1
        var value = Int(bytes[at]) & limit
        at += 1
        guard value == limit else { return value }
        var shift = 0
        while at < bytes.count {
            let b = bytes[at]
            at += 1
            value += Int(b & 0x7F) << shift
            shift += 7
            if b & 0x80 == 0 { return value }
            if shift > 28 { return nil }
        }
        return nil
    }

    /// Huffman-coded digits (RFC 7541 appendix B: '0'-'2' are 5 bits 00000-00010, '3'-'9' are
    /// 6 bits 011001-011111); nil on anything else. Trailing padding is all ones.
    private static func huffmanDigits(_ bytes: [UInt8]) -> String? {
        var bits: [UInt8] = []
        for byte in bytes { for shift in (0..<8).reversed() { bits.append((byte >> UInt8(shift)) & 1) } }
        func value(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bits.count else { return nil }
            return bits[from..<(from + count)].reduce(0) { $0 << 1 | Int($1) }
        }
        var text = ""
        var at = 0
        while at < bits.count {
            if bits.count - at < 8, bits[at...].allSatisfy({ $0 == 1 }) { break }   // padding
            if let five = value(at, 5), five <= 2 {
                text += String(five)
                at += 5
            } else if let six = value(at, 6), (0x19...0x1F).contains(six) {
                text += String(six - 0x19 + 3)
                at += 6
            } else {
                return nil
            }
        }
        return text
    }
}

extension H2Connection {
    /// The :status of the first response HEADERS on `stream` (nil if the server closed first,
    /// or -1 if its block is beyond `H2.responseStatus`); throws after `timeout`.
    func waitForResponse(stream: UInt32, timeout: TimeInterval = 10) throws -> Int? {
        try waitFor(timeout: timeout, "response HEADERS on stream \(stream)") {
            $0.kind == .headers && $0.stream == stream ? (H2.responseStatus($0.payload) ?? -1) : nil
        }
    }

    /// Reads until `stream` ends: END_STREAM on DATA or HEADERS (the error code nil) or an
    /// RST_STREAM (its code). Returns nil too if the server closes first; `ended` says which.
    func waitForStreamEnd(stream: UInt32, timeout: TimeInterval = 10) throws -> (ended: Bool, reset: UInt32?) {
        let result = try waitFor(timeout: timeout, "the end of stream \(stream)") { frame -> (Bool, UInt32?)? in
            guard frame.stream == stream else { return nil }
            if frame.kind == .rstStream { return (true, frame.errorCode) }
            if (frame.kind == .data || frame.kind == .headers) && frame.flags & H2.Flag.endStream != 0 { return (true, nil) }
            return nil
        }
        return result.map { (ended: $0.0, reset: $0.1) } ?? (ended: false, reset: nil)
    }
}
