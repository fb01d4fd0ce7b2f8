// FriendlyID.swift — random public identifiers: "session_" / "run_" / "req_" + 25 chars of [0-9a-z].
// Characters come from the system's random bytes, drawn once per id (one getrandom call:
// Int.random(in:) with SystemRandomNumberGenerator made one per character, 25 per id, and every
// append mints a run id), mapped without modulo bias by rejection (`appendCharacters`).
#if canImport(Glibc)
import Glibc
#endif

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
        var out = Array(prefix.utf8)
        let length = out.count + randomLength
        out.reserveCapacity(length)
        // 64 bytes make 25 characters unless more than 39 of them are rejected (each is with
        // probability 4/256): in practice one draw.
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { pool in
            while out.count < length {
                fillRandom(pool)
                appendCharacters(from: UnsafeRawBufferPointer(pool), to: &out, upTo: length)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends a character of [0-9a-z] for each byte below 252 (7 x 36: every character equally
    /// likely) until `out` has `length` bytes; bytes 252-255 are skipped.
    static func appendCharacters(from random: UnsafeRawBufferPointer, to out: inout [UInt8], upTo length: Int) {
        let chars = alphabet.utf8Start
        for byte in random where out.count < length && byte < 252 {
            out.append(chars[Int(byte % 36)])
        }
    }

    private static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        #if canImport(Glibc)
        arc4random_buf(buffer.baseAddress!, buffer.count)   // glibc: getrandom(2), one call
        #else
        var rng = SystemRandomNumberGenerator()
        for i in stride(from: 0, to: buffer.count - 7, by: 8) { buffer.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self) }
        #endif
    }
}
