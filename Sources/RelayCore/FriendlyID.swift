// FriendlyID.swift — random public identifiers: "session_" / "run_" / "req_" + 25 chars of [0-9a-z].
// Characters come from SystemRandomNumberGenerator's bytes, without modulo bias (see make).

public enum FriendlyID {
    public static let sessionPrefix = "session_"
    public static let runPrefix = "run_"
    static let randomLength = 25
    private static let alphabet: StaticString = "0123456789abcdefghijklmnopqrstuvwxyz"

    public static func session() -> String { make(prefix: sessionPrefix) }

    public static func run() -> String { make(prefix: runPrefix) }

    /// The id of one failed request, shown to the client and logged with the cause.
    public static func request() -> String { make(prefix: "req_") }

    /// Whether a `{session}` path segment is a friendly id (else it is an externalId).
    public static func isSession(_ s: String) -> Bool { s.hasPrefix(sessionPrefix) }

    /// Whether `s` is a session id as this relay makes them: the prefix and 25 of [0-9a-z].
    /// Only such names become key names: a "session_" name with braces in it would put the
    /// session's keys in different cluster slots.
    public static func isWellFormedSession(_ s: String) -> Bool {
        let bytes = Array(s.utf8)
        guard bytes.count == sessionPrefix.utf8.count + randomLength, s.hasPrefix(sessionPrefix) else { return false }
        return bytes.dropFirst(sessionPrefix.utf8.count).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }
    }

    private static func make(prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        var out = Array(prefix.utf8)
        let length = out.count + randomLength
        out.reserveCapacity(length)
        // Eight random bytes per draw (one getrandom call each, not one per character: that was
        // a fifth of a node's CPU per append); about four draws make an id.
        while out.count < length {
            let word = rng.next()
            appendCharacters(from: (0..<8).lazy.map { UInt8(truncatingIfNeeded: word >> (8 * $0)) }, to: &out, upTo: length)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends a character of [0-9a-z] for each byte below 252 (7 x 36: every character equally
    /// likely) until `out` has `length` bytes; bytes 252-255 are passed over.
    static func appendCharacters<Bytes: Sequence>(from random: Bytes, to out: inout [UInt8], upTo length: Int)
        where Bytes.Element == UInt8 {
        let chars = alphabet.utf8Start
        for byte in random where out.count < length && byte < 252 {
            out.append(chars[Int(byte % 36)])
        }
    }
}
