// ClusterKeySlot.swift: the Redis Cluster slot of a key (CRC16/XMODEM of the key, or of its
// hash tag, mod 16384), for tests that must know which primary owns a session's keys. The
// relay's own version (RelayRedis.ClusterSlot) is not importable from here.

enum ClusterKeySlot {
    static let count = 16384

    /// The slot of `key`: of the part between the first `{` and the next `}` when that part
    /// is not empty, else of the whole key.
    static func of(_ key: String) -> Int {
        var bytes = Array(key.utf8)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            bytes = Array(bytes[(open + 1)..<close])
        }
        return Int(crc16(bytes)) % count
    }

    /// The slot of every key of session `id` (hash tag `s:<id>`).
    static func ofSession(_ id: String) -> Int { of("{s:\(id)}") }

    /// CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster specifies.
    static func crc16(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}
