// CryptoStub.swift — stands in for swift-crypto in fuzz harnesses, which are built with swiftc
// and cannot compile swift-crypto. Only the surface PublicToken.swift uses. The "MAC" is a
// keyed 32-byte mixing function: deterministic and key-dependent, NOT secure; it exists so
// that mint / verifySignature / decodeUnverified can be fuzzed for their parsing and
// comparison logic. Real HMAC-SHA256 is covered by Tests/RelayCoreTests/PublicTokenTests.

struct SymmetricKey {
    let bytes: [UInt8]
    init(data: [UInt8]) { bytes = data }
}

enum SHA256 {}

enum HMAC<H> {
    static func authenticationCode(for message: [UInt8], using key: SymmetricKey) -> [UInt8] {
        var lanes: [UInt64] = [0xcbf2_9ce4_8422_2325, 0x8422_2325_cbf2_9ce4, 0x9E37_79B9_7F4A_7C15, 0x1234_5678_9abc_def0]
        func mix(_ b: UInt8, _ i: Int) {
            lanes[i & 3] = (lanes[i & 3] ^ UInt64(b)) &* 0x0000_0100_0000_01B3
            lanes[(i + 1) & 3] &+= lanes[i & 3] >> 17
        }
        for (i, b) in key.bytes.enumerated() { mix(b, i) }
        mix(0xFF, key.bytes.count)
        for (i, b) in message.enumerated() { mix(b, i) }
        var out: [UInt8] = []
        for lane in lanes { withUnsafeBytes(of: lane.littleEndian) { out += $0 } }
        return out
    }
}
