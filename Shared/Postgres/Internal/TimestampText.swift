/// timestamptz in PostgreSQL's ISO text form (`2024-05-06 07:08:09.123456+00`), to and from
/// microseconds since 1970-01-01 UTC, without Foundation's calendars or formatters.
///
/// Connections set `DateStyle` to ISO, so this is the only form the server writes. Days and civil
/// dates convert with Howard Hinnant's algorithms (proleptic Gregorian, as PostgreSQL uses).
enum TimestampText {
    /// Appends `micros` as `YYYY-MM-DD HH:MM:SS.ffffff+00` (with ` BC` for years before 1).
    static func append(microsecondsSince1970 micros: Int64, to buffer: inout [UInt8]) {
        let microsPerDay: Int64 = 86_400_000_000
        let (days, microOfDay) = Self.floorDivide(micros, microsPerDay)
        let (year, month, day) = Self.civil(fromDays: days)
        let secondOfDay = microOfDay / 1_000_000
        let fraction = microOfDay % 1_000_000
        Self.appendPadded(year > 0 ? year : 1 - year, width: 4, to: &buffer)
        buffer.append(UInt8(ascii: "-"))
        Self.appendPadded(month, width: 2, to: &buffer)
        buffer.append(UInt8(ascii: "-"))
        Self.appendPadded(day, width: 2, to: &buffer)
        buffer.append(UInt8(ascii: " "))
        Self.appendPadded(secondOfDay / 3600, width: 2, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        Self.appendPadded(secondOfDay / 60 % 60, width: 2, to: &buffer)
        buffer.append(UInt8(ascii: ":"))
        Self.appendPadded(secondOfDay % 60, width: 2, to: &buffer)
        buffer.append(UInt8(ascii: "."))
        Self.appendPadded(fraction, width: 6, to: &buffer)
        buffer.append(contentsOf: "+00".utf8)
        if year <= 0 {
            buffer.append(contentsOf: " BC".utf8)
        }
    }

    /// Microseconds since 1970 from `YYYY-MM-DD HH:MM:SS[.f…][±HH[:MM[:SS]]][ BC]`; nil otherwise
    /// (including `infinity`). A value without offset (type timestamp) is read as UTC.
    static func microsecondsSince1970(_ text: UnsafeRawBufferPointer) -> Int64? {
        var index = 0
        func number(minDigits: Int, maxDigits: Int) -> Int64? {
            var value: Int64 = 0
            let start = index
            while index < text.count, index - start < maxDigits, let digit = TextParsing.digit(text[index]) {
                value = value * 10 + Int64(digit)
                index += 1
            }
            return index - start >= minDigits ? value : nil
        }
        func expect(_ character: Unicode.Scalar) -> Bool {
            guard index < text.count, text[index] == UInt8(ascii: character) else {
                return false
            }
            index += 1
            return true
        }
        guard var year = number(minDigits: 4, maxDigits: 9), expect("-"),
            let month = number(minDigits: 2, maxDigits: 2), expect("-"),
            let day = number(minDigits: 2, maxDigits: 2), expect(" "),
            let hour = number(minDigits: 2, maxDigits: 2), expect(":"),
            let minute = number(minDigits: 2, maxDigits: 2), expect(":"),
            let second = number(minDigits: 2, maxDigits: 2),
            (1...12).contains(month), (1...31).contains(day), hour <= 24, minute < 60, second < 60
        else {
            return nil
        }
        var micros: Int64 = 0
        if expect(".") {
            var scale: Int64 = 100_000
            let start = index
            while index < text.count, let digit = TextParsing.digit(text[index]) {
                micros += Int64(digit) * scale
                scale /= 10
                index += 1
            }
            guard index > start, index - start <= 6 else {
                return nil
            }
        }
        var offsetSeconds: Int64 = 0
        if index < text.count, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") {
            let sign: Int64 = text[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let offsetHours = number(minDigits: 2, maxDigits: 2) else {
                return nil
            }
            var offset = offsetHours * 3600
            if expect(":") {
                guard let offsetMinutes = number(minDigits: 2, maxDigits: 2) else { return nil }
                offset += offsetMinutes * 60
                if expect(":") {
                    guard let offsetSecondsPart = number(minDigits: 2, maxDigits: 2) else { return nil }
                    offset += offsetSecondsPart
                }
            }
            offsetSeconds = sign * offset
        }
        if index < text.count {
            guard text.count - index == 3, expect(" "), expect("B"), expect("C") else {
                return nil
            }
            year = 1 - year
        }
        let days = Self.days(fromCivilYear: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    // MARK: - Calendar arithmetic

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = value / divisor - (value % divisor < 0 ? 1 : 0)
        return (quotient, value - quotient * divisor)
    }

    static func civil(fromDays daysSince1970: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSince1970 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func days(fromCivilYear civilYear: Int64, month: Int64, day: Int64) -> Int64 {
        let year = month <= 2 ? civilYear - 1 : civilYear
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func appendPadded(_ value: Int64, width: Int, to buffer: inout [UInt8]) {
        let digits = String(value).utf8
        if digits.count < width {
            buffer.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits.count))
        }
        buffer.append(contentsOf: digits)
    }
}
