// ClusterSlot: the Redis Cluster key slot of a key (CRC16/XMODEM of the key, or of its hash tag,
// modulo 16384), as the cluster specification defines it. In cluster mode ClusterClient sends
// each command, and ShardedPubSub each subscription, to the primary that owns its slot; the
// outbox walk goes slot by slot. Every key of one session carries the tag {s:<id>} and every
// key of one environment {env:<id>}, so each script touches one slot.

public enum ClusterSlot {
    public static let count = 16_384

    /// The slot of `key`: of its hash tag (the text between the first "{" and the next "}",
    /// if that is not empty), else of the whole key.
    public static func of<C: Collection>(_ key: C) -> Int where C.Element == UInt8 {
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(bytes[(open + 1)..<close]) % UInt16(count))
        }
        return Int(crc16(bytes[...]) % UInt16(count))
    }

    public static func of(_ key: String) -> Int { of(key.utf8) }

    /// CRC16/XMODEM (polynomial 0x1021, initial value 0), a byte at a time from a table.
    static func crc16<C: Collection>(_ bytes: C) -> UInt16 where C.Element == UInt8 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ crcTable[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let crcTable: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
