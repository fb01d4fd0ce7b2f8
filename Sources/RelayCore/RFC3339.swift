// RFC3339.swift — RFC 3339 timestamps <-> milliseconds since the Unix epoch, by plain
// arithmetic (Howard Hinnant's days-from-civil), no Foundation.
//
// format(milliseconds:) always writes UTC with three fraction digits: 2026-11-23T17:53:52.123Z
// parse(_:) accepts 'T'/'t', any fraction length (truncated to ms), 'Z'/'z' or +hh:mm/-hh:mm;
// returns nil for anything malformed or out of range.

public enum RFC3339 {
    private static let msPerDay: Int64 = 86_400_000

    public static func format(milliseconds: Int64) -> String {
        var days = milliseconds / msPerDay
        var rem = milliseconds % msPerDay
        if rem < 0 {
            rem += msPerDay
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        let ms = rem % 1000
        let secs = rem / 1000
        var out: [UInt8] = []
        out.reserveCapacity(24)
        if year < 0 { out.append(0x2D) }
        pad(year.magnitude, width: 4, to: &out)
        out.append(0x2D)
        pad(UInt64(month), width: 2, to: &out)
        out.append(0x2D)
        pad(UInt64(day), width: 2, to: &out)
        out.append(0x54)
        pad(UInt64(secs / 3600), width: 2, to: &out)
        out.append(0x3A)
        pad(UInt64(secs / 60 % 60), width: 2, to: &out)
        out.append(0x3A)
        pad(UInt64(secs % 60), width: 2, to: &out)
        out.append(0x2E)
        pad(UInt64(ms), width: 3, to: &out)
        out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }

    public static func parse(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        var i = 0
        func digits(_ count: Int) -> Int64? {
            guard i + count <= b.count else { return nil }
            var v: Int64 = 0
            for j in i..<i + count {
                guard b[j] >= 0x30 && b[j] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[j] - 0x30)
            }
            i += count
            return v
        }
        func expect(_ c: UInt8, or alt: UInt8? = nil) -> Bool {
            guard i < b.count, b[i] == c || b[i] == alt else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2),
              expect(0x54, or: 0x74),
              let hour = digits(2), expect(0x3A), let minute = digits(2), expect(0x3A), let second = digits(2)
        else { return nil }
        var millis: Int64 = 0
        if i < b.count && b[i] == 0x2E {
            i += 1
            let start = i
            while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 {
                if i - start < 3 { millis = millis * 10 + Int64(b[i] - 0x30) }
                i += 1
            }
            guard i > start else { return nil }
            for _ in min(i - start, 3)..<3 { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        guard i < b.count else { return nil }
        if b[i] == 0x5A || b[i] == 0x7A {
            i += 1
        } else if b[i] == 0x2B || b[i] == 0x2D {
            let sign: Int64 = b[i] == 0x2D ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(0x3A), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
        } else {
            return nil
        }
        guard i == b.count,
              (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 60 // 60: a leap second, counted as the next minute's 0
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = ((days * 24 + hour) * 60 + minute) * 60 + second - offsetMinutes * 60
        return seconds * 1000 + millis
    }

    // MARK: Calendar arithmetic (proleptic Gregorian)

    static func isLeapYear(_ y: Int64) -> Bool {
        (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
    }

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a civil date.
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func pad(_ v: UInt64, width: Int, to out: inout [UInt8]) {
        var digits: [UInt8] = []
        JSONBytes.appendDecimal(v, to: &digits)
        for _ in digits.count..<max(width, digits.count) { out.append(0x30) }
        out.append(contentsOf: digits)
    }
}
