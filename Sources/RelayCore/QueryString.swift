// QueryString.swift — splits a raw URL query (without '?') into decoded (name, value)
// pairs: split on '&', name/value at the first '=', '+' is a space, %XX is decoded and
// an invalid escape is kept literally. Empty pieces are skipped.
import RelayWire

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
        String(decoding: PercentDecoding.decode(bytes, plusIsSpace: true), as: UTF8.self)
    }
}
