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
        out.reserveCapacity(out.count + randomLength)
        let chars = alphabet.utf8Start
        // Eight random bytes per draw (one getrandom call each, not one per character: that was
        // a fifth of an append's CPU). A byte of 252 or more is passed over: 252 = 7 x 36, so
        // every character stays equally likely.
        while out.count < prefix.utf8.count + randomLength {
            var word = rng.next()
            for _ in 0..<8 where out.count < prefix.utf8.count + randomLength {
                let byte = Int(word & 0xFF)
                word >>= 8
                if byte < 252 { out.append(chars[byte % 36]) }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
