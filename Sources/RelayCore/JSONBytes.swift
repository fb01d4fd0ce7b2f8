// JSONBytes.swift — byte-level output helpers shared by the JSON writer, record encoding
// and SSE framing: decimal digits, UTF-8 scalars and JSON string escaping into [UInt8].

public enum JSONBytes {
    private static let hexDigits: StaticString = "0123456789abcdef"

    /// Plain decimal digits (1-20 of them, no sign) as a number; nil otherwise or on overflow.
    @inlinable   // specialized in the callers' modules (per live record on the fan-out path)
    public static func parseDecimal(_ digits: some Collection<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for c in digits {
            guard c >= 0x30, c <= 0x39 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(c - 0x30))
            if o1 || o2 { return nil }
            value = sum
        }
        return value
    }

    /// Appends `value` in decimal.
    @inline(__always)
    public static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 {
            out.append(0x30 &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var digits: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0) // 40 bytes >= 20 digits
        var count = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { buf in
            while v > 0 {
                buf[count] = 0x30 &+ UInt8(truncatingIfNeeded: v % 10)
                v /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buf[i]) }
        }
    }

    static func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(0x2D) }
        appendDecimal(value.magnitude, to: &out)
    }

    /// Appends the UTF-8 encoding of a scalar value (invalid values become U+FFFD).
    static func appendUTF8(scalar: UInt32, to out: inout [UInt8]) {
        let s = Unicode.Scalar(scalar) ?? "\u{FFFD}"
        let v = s.value
        switch v {
        case 0..<0x80:
            out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (v >> 6)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (v >> 12)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (v >> 18)))
            out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Appends `"..."`: the bytes of `src` as a JSON string literal. Escapes `"`, `\` and
    /// bytes below 0x20. With `sanitizeUTF8`, each byte that does not start a well-formed
    /// UTF-8 sequence is replaced by U+FFFD, so the output is always valid JSON text.
    static func appendQuoted(_ src: UnsafeRawBufferPointer, sanitizeUTF8: Bool, to out: inout [UInt8]) {
        let n = src.count
        out.reserveCapacity(out.count + n + 2)
        out.append(0x22)
        var runStart = 0 // start of bytes not yet copied
        var i = 0
        while i < n {
            let c = src[i]
            if c >= 0x20 && c != 0x22 && c != 0x5C && c < 0x80 {
                i += 1
                continue
            }
            if c >= 0x80 {
                let length = sanitizeUTF8 ? utf8SequenceLength(src, at: i) : 1
                if length > 0 {
                    i += length
                    continue
                }
            }
            if runStart < i { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: src[runStart..<i])) }
            switch c {
            case 0x22: out.append(0x5C); out.append(0x22)
            case 0x5C: out.append(0x5C); out.append(0x5C)
            case 0x0A: out.append(0x5C); out.append(0x6E)
            case 0x0D: out.append(0x5C); out.append(0x72)
            case 0x09: out.append(0x5C); out.append(0x74)
            case 0x08: out.append(0x5C); out.append(0x62)
            case 0x0C: out.append(0x5C); out.append(0x66)
            case 0x80...: out.append(contentsOf: [0xEF, 0xBF, 0xBD]) // invalid UTF-8 byte
            default:
                let hex = hexDigits.utf8Start
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
            }
            i += 1
            runStart = i
        }
        if runStart < n { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: src[runStart..<n])) }
        out.append(0x22)
    }

    static func appendQuoted(_ s: String, to out: inout [UInt8]) {
        var s = s
        s.withUTF8 { appendQuoted(UnsafeRawBufferPointer($0), sanitizeUTF8: false, to: &out) }
    }

    /// Length (2-4) of the well-formed UTF-8 sequence starting at `i`, or 0 if there is none.
    @inline(__always)
    static func utf8SequenceLength(_ b: UnsafeRawBufferPointer, at i: Int) -> Int {
        @inline(__always) func cont(_ j: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool {
            j < b.count && b[j] >= lo && b[j] <= hi
        }
        switch b[i] {
        case 0xC2...0xDF: return cont(i + 1) ? 2 : 0
        case 0xE0: return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : 0
        case 0xE1...0xEC, 0xEE, 0xEF: return cont(i + 1) && cont(i + 2) ? 3 : 0
        case 0xED: return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0
        case 0xF0: return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF1...0xF3: return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0
        case 0xF4: return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0
        default: return 0
        }
    }
}
