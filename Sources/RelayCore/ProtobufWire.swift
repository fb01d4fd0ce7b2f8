// ProtobufWire.swift — the protobuf wire format (varints, length-delimited fields), enough for
// S2's s2.v1 messages (S2Messages.swift). Seven small messages do not warrant a code generator:
// the reader checks every length against what is left, never recurses deeper than the message
// types nest, and is fuzzed (Fuzz/fuzz_s2).

public struct ProtobufError: Error, Equatable, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// Reads fields from a message's bytes. Unknown fields are skipped, as protobuf requires.
public struct ProtobufReader {
    public enum WireType: UInt8 { case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5 }

    private let bytes: ArraySlice<UInt8>
    private var at: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        at = bytes.startIndex
    }

    public var isAtEnd: Bool { at >= bytes.endIndex }

    /// The next field's number and wire type; nil at the end of the message.
    public mutating func nextField() throws(ProtobufError) -> (number: UInt32, type: WireType)? {
        guard !isAtEnd else { return nil }
        let key = try varint()
        guard let type = WireType(rawValue: UInt8(key & 7)) else { throw ProtobufError("unsupported wire type \(key & 7)") }
        let number = key >> 3
        guard number >= 1, number <= 536_870_911 else { throw ProtobufError("bad field number") }
        return (UInt32(number), type)
    }

    public mutating func varint() throws(ProtobufError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard at < bytes.endIndex else { throw ProtobufError("truncated varint") }
            let byte = bytes[at]
            at += 1
            if shift == 63 && byte > 1 { throw ProtobufError("varint overflows 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { throw ProtobufError("varint longer than 10 bytes") }
        }
    }

    /// A length-delimited field's bytes (a nested message, bytes or a string).
    public mutating func lengthDelimited() throws(ProtobufError) -> ArraySlice<UInt8> {
        let length = try varint()
        guard length <= UInt64(bytes.endIndex - at) else { throw ProtobufError("length past the end of the message") }
        let start = at
        at += Int(length)
        return bytes[start..<at]
    }

    public mutating func skip(_ type: WireType) throws(ProtobufError) {
        switch type {
        case .varint: _ = try varint()
        case .lengthDelimited: _ = try lengthDelimited()
        case .fixed64: try advance(8)
        case .fixed32: try advance(4)
        }
    }

    private mutating func advance(_ n: Int) throws(ProtobufError) {
        guard bytes.endIndex - at >= n else { throw ProtobufError("truncated fixed-width field") }
        at += n
    }

    /// Reads a field of the expected type, or fails naming it.
    public mutating func expect(_ type: WireType, got: WireType, _ name: String) throws(ProtobufError) {
        guard type == got else { throw ProtobufError("\(name) has the wrong wire type") }
    }
}

/// Writes a message's fields, in the order given.
public struct ProtobufWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func key(_ number: UInt32, _ type: ProtobufReader.WireType) {
        varint(UInt64(number) << 3 | UInt64(type.rawValue))
    }

    public mutating func uint64(_ number: UInt32, _ value: UInt64) {
        key(number, .varint)
        varint(value)
    }

    public mutating func bytesField(_ number: UInt32, _ value: some Collection<UInt8>) {
        key(number, .lengthDelimited)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A nested message, written by `body` into a writer of its own.
    public mutating func message(_ number: UInt32, _ body: (inout ProtobufWriter) -> Void) {
        var nested = ProtobufWriter()
        body(&nested)
        bytesField(number, nested.bytes)
    }
}
