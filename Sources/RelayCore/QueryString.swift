// QueryString.swift — splits a raw URL query (without '?') into decoded (name, value)
// pairs: split on '&', name/value at the first '=', '+' is a space, %XX is decoded and
// an invalid escape is kept literally. Empty pieces are skipped.

public enum QueryString {
    public static func parse(_ raw: String) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for piece in raw.utf8.split(separator: 0x26, omittingEmptySubsequences: true) {
            if let eq = piece.firstIndex(of: 0x3D) {
                pairs.append((decode(piece[..<eq]), decode(piece[piece.index(after: eq)...])))
            } else {
                pairs.append((decode(piece[...]), ""))
            }
        }
        return pairs
    }

    /// Percent-decoding of one component ('+' -> space); invalid UTF-8 becomes U+FFFD.
    public static func decode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(input.count)
        var i = 0
        while i < input.count {
            let c = input[i]
            if c == 0x2B {
                out.append(0x20)
            } else if c == 0x25, i + 2 < input.count, let hi = hexValue(input[i + 1]), let lo = hexValue(input[i + 2]) {
                out.append(hi << 4 | lo)
                i += 2
            } else {
                out.append(c)
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}
