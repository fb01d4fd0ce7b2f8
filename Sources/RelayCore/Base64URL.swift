// Base64URL.swift — base64url (RFC 4648 section 5) without padding, for JWT segments.

enum Base64URL {
    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let input = Array(bytes)
        let chars = alphabet.utf8Start
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(chars[Int(v >> 18 & 63)])
            out.append(chars[Int(v >> 12 & 63)])
            out.append(chars[Int(v >> 6 & 63)])
            out.append(chars[Int(v & 63)])
            i += 3
        }
        let rest = input.count - i
        if rest == 1 {
            let v = UInt32(input[i]) << 16
            out.append(chars[Int(v >> 18 & 63)])
            out.append(chars[Int(v >> 12 & 63)])
        } else if rest == 2 {
            let v = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8
            out.append(chars[Int(v >> 18 & 63)])
            out.append(chars[Int(v >> 12 & 63)])
            out.append(chars[Int(v >> 6 & 63)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The decoded bytes, or nil for characters outside the alphabet, padding or a bad length.
    static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let v: UInt32
            switch c {
            case 0x41...0x5A: v = UInt32(c - 0x41)
            case 0x61...0x7A: v = UInt32(c - 0x61 + 26)
            case 0x30...0x39: v = UInt32(c - 0x30 + 52)
            case 0x2D: v = 62
            case 0x5F: v = 63
            default: return nil
            }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        guard bits < 6 else { return nil } // one dangling character: not a valid length
        // The unused low bits of the last character must be zero (RFC 4648 section 3.5), so that
        // each byte string has one spelling: "QR" is not another way to write "QQ".
        guard acc & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }
}

/// Standard base64 (RFC 4648 section 4) with padding, as S2's JSON format "base64" spells bytes:
/// the base64url code with the two characters that differ swapped.
public enum Base64 {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text = Array(Base64URL.encode(bytes).utf8)
        for i in text.indices {
            if text[i] == UInt8(ascii: "-") { text[i] = UInt8(ascii: "+") } else if text[i] == UInt8(ascii: "_") { text[i] = UInt8(ascii: "/") }
        }
        while text.count % 4 != 0 { text.append(UInt8(ascii: "=")) }
        return String(decoding: text, as: UTF8.self)
    }

    /// nil for characters outside the alphabet or a bad length or padding.
    public static func decode(_ text: String) -> [UInt8]? {
        var chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var padding = 0
        while padding < 2, chars.last == UInt8(ascii: "=") { chars.removeLast(); padding += 1 }
        for i in chars.indices {
            switch chars[i] {
            case UInt8(ascii: "+"): chars[i] = UInt8(ascii: "-")
            case UInt8(ascii: "/"): chars[i] = UInt8(ascii: "_")
            case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "="): return nil
            default: break
            }
        }
        return Base64URL.decode(String(decoding: chars, as: UTF8.self))
    }
}
