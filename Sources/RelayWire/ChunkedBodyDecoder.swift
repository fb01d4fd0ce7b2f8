// ChunkedBodyDecoder: the chunked transfer coding (RFC 9112 section 7.1), fed as bytes arrive.
//
// Strict where parsers disagree: a chunk size is plain hex digits (no sign, no "0x", no
// leading space), at most 15 of them; each line ends in CRLF; chunk extensions are skipped
// but bounded; trailer fields are read and dropped, bounded too. A body that would pass
// `limit` is refused as soon as its size line says so, before its bytes are buffered.

public struct ChunkedBodyDecoder: Sendable {
    public enum Failure: Error, Equatable, Sendable {
        case malformed(String)
        case tooLarge
    }

    private enum State: Sendable {
        case size(digits: Int, value: Int)
        case sizeWhitespace
        case extensions(lineBytes: Int)
        case sizeLF
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart(trailerBytes: Int)
        case trailerLine(trailerBytes: Int)
        case trailerLF(trailerBytes: Int, empty: Bool)
        case done
    }

    private var state = State.size(digits: 0, value: 0)
    private let limit: Int
    /// Decoded body bytes so far.
    public private(set) var decodedCount = 0
    static let maxLineBytes = 1024
    static let maxTrailerBytes = 8 * 1024

    public init(limit: Int) { self.limit = limit }

    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes bytes from `input`, appending chunk data to `body`. Returns how many bytes were
    /// consumed: all of them, or fewer once the body is complete (the rest is the next request).
    public mutating func feed(_ input: ArraySlice<UInt8>, into body: inout [UInt8]) throws(Failure) -> Int {
        var i = input.startIndex
        while i < input.endIndex {
            let byte = input[i]
            switch state {
            case .done:
                return i - input.startIndex
            case .size(let digits, let value):
                if let hex = PercentDecoding.hexValue(byte) {
                    guard digits < 15 else { throw .malformed("Chunk size too long") }
                    state = .size(digits: digits + 1, value: value << 4 | Int(hex))
                } else {
                    guard digits > 0 else { throw .malformed("Chunk size must be hexadecimal digits") }
                    guard decodedCount + value <= limit else { throw .tooLarge }
                    try endSizeLine(byte, value: value)
                }
                i += 1
            case .sizeWhitespace:
                // Whitespace after a size may only lead to an extension (BWS ";").
                switch byte {
                case 0x20, 0x09: break
                case UInt8(ascii: ";"): state = .extensions(lineBytes: 1)
                default: throw .malformed("Chunk size must be hexadecimal digits")
                }
                i += 1
            case .extensions(let lineBytes):
                guard lineBytes < Self.maxLineBytes else { throw .malformed("Chunk extension too long") }
                if byte == 0x0D {
                    state = .sizeLF
                } else if byte == 0x0A || (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                    throw .malformed("Control character in a chunk extension")
                } else {
                    state = .extensions(lineBytes: lineBytes + 1)
                }
                i += 1
            case .sizeLF:
                guard byte == 0x0A else { throw .malformed("Chunk size line must end in CRLF") }
                state = pendingSize == 0 ? .trailerLineStart(trailerBytes: 0) : .data(remaining: pendingSize)
                i += 1
            case .data(let remaining):
                let take = min(remaining, input.endIndex - i)
                body.append(contentsOf: input[i..<(i + take)])
                decodedCount += take
                i += take
                state = remaining == take ? .dataCR : .data(remaining: remaining - take)
            case .dataCR:
                guard byte == 0x0D else { throw .malformed("Chunk data must end in CRLF") }
                state = .dataLF
                i += 1
            case .dataLF:
                guard byte == 0x0A else { throw .malformed("Chunk data must end in CRLF") }
                state = .size(digits: 0, value: 0)
                i += 1
            case .trailerLineStart(let total), .trailerLine(let total):
                guard total < Self.maxTrailerBytes else { throw .malformed("Trailer section too long") }
                let atStart: Bool
                if case .trailerLineStart = state { atStart = true } else { atStart = false }
                if byte == 0x0D {
                    state = .trailerLF(trailerBytes: total + 1, empty: atStart)
                } else if byte == 0x0A || (byte < 0x20 && byte != 0x09) || byte == 0x7F {
                    throw .malformed("Control character in a trailer field")
                } else {
                    state = .trailerLine(trailerBytes: total + 1)
                }
                i += 1
            case .trailerLF(let total, let empty):
                guard byte == 0x0A else { throw .malformed("Trailer lines must end in CRLF") }
                state = empty ? .done : .trailerLineStart(trailerBytes: total + 1)
                i += 1
            }
        }
        return i - input.startIndex
    }

    /// The size of the chunk whose size line is being finished.
    private var pendingSize = 0

    private mutating func endSizeLine(_ byte: UInt8, value: Int) throws(Failure) {
        pendingSize = value
        switch byte {
        case 0x0D: state = .sizeLF
        case UInt8(ascii: ";"): state = .extensions(lineBytes: 1)
        case 0x20, 0x09: state = .sizeWhitespace
        default: throw .malformed("Chunk size must be hexadecimal digits")
        }
    }
}
