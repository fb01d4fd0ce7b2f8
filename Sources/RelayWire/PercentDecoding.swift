// PercentDecoding: %XX escapes (RFC 3986) for paths and query strings, and the one hex-digit
// table the HTTP parsers share. An escape that is not two hex digits is kept literally.

public enum PercentDecoding {
    /// The bytes of `input` with %XX decoded; with `plusIsSpace` (query strings), '+' is ' '.
    public static func decode<C: Collection>(_ input: C, plusIsSpace: Bool) -> [UInt8] where C.Element == UInt8 {
        let bytes = Array(input)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "+") && plusIsSpace {
                out.append(0x20)
            } else if c == UInt8(ascii: "%"), i + 2 < bytes.count,
                      let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 2
            } else {
                out.append(c)
            }
            i += 1
        }
        return out
    }

    /// The value of one ASCII hex digit, or nil.
    public static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
