import Foundation
import Testing

@testable import Postgres

/// Query building, redaction and text formats, without a database.
@Suite struct QueryBuildingTests {
    @Test func interpolatedValuesBecomeNumberedParameters() {
        let id = 42
        let name = "x'; DROP TABLE t; --"
        let note: String? = nil
        let query: PostgresQuery = "SELECT * FROM t WHERE id = \(id) AND name = \(name) AND note IS NOT DISTINCT FROM \(note)"
        #expect(query.sql == "SELECT * FROM t WHERE id = $1 AND name = $2 AND note IS NOT DISTINCT FROM $3")
        #expect(query.bindings.count == 3)
        #expect(!query.description.contains("DROP"))
        #expect(query.validationError == nil)
    }

    @Test func identifiersAreQuotedNotBound() {
        let table = "we\"ird table"
        let query: PostgresQuery = "SELECT count(*) FROM \(identifier: table) WHERE a = \(1)"
        #expect(query.sql == #"SELECT count(*) FROM "we""ird table" WHERE a = $1"#)
        #expect(query.bindings.count == 1)
    }

    @Test func nulInStringIsRefusedNamingTheParameter() throws {
        let query: PostgresQuery = "INSERT INTO t VALUES (\(1), \("a\u{0}b"))"
        let error = try #require(query.validationError)
        #expect(error.code == .invalidParameter)
        #expect(error.description.contains("$2"))
        #expect(!error.description.contains("a\u{0}b"))
        let identifier: PostgresQuery = "SELECT 1 FROM \(identifier: "a\u{0}b")"
        #expect(identifier.validationError?.code == .invalidParameter)
    }

    @Test func bytesAreBinaryAndMayHoldZeros() {
        let query: PostgresQuery = "SELECT \([UInt8]([0, 1, 0]))"
        #expect(query.validationError == nil)
        #expect(query.bindings.parameters.first?.format == .binary)
        #expect(query.bindings.parameters.first?.length == 3)
    }

    @Test(arguments: [
        ("postgresql://chorus:s3cret@127.0.0.1:5433/chorus", "postgresql://chorus:***@127.0.0.1:5433/chorus", "s3cret"),
        ("postgres://u:p%40ss@h/db?sslmode=require", "postgres://u:***@h/db?sslmode=require", "p%40ss"),
        ("postgresql://h/db?user=u&password=topsecret&x=1", "postgresql://h/db?user=u&password=***&x=1", "topsecret"),
        ("postgresql://chorus@127.0.0.1:5433/chorus?passfile=/p", "postgresql://chorus@127.0.0.1:5433/chorus?passfile=/p", ""),
        ("host=h password=hunter2 dbname=d", "host=h password=*** dbname=d", "hunter2"),
        ("host=h password = 'a b\\' c' dbname=d", "host=h password = '***' dbname=d", "a b\\' c"),
    ])
    func passwordsAreRedacted(url: String, redacted: String, secret: String) {
        #expect(ConnectionStringRedaction.redact(url) == redacted)
        let configuration = PostgresConfiguration(url: url)
        #expect(configuration.redactedURL == redacted)
        if !secret.isEmpty {
            #expect(!configuration.description.contains(secret))
            #expect(ConnectionStringRedaction.secrets(in: url).contains(secret))
        }
    }

    @Test func percentDecodedPasswordIsScrubbedToo() {
        let secrets = ConnectionStringRedaction.secrets(in: "postgresql://u:p%40ss@h/db")
        #expect(ConnectionStringRedaction.scrub("failed for p@ss and p%40ss", secrets: secrets) == "failed for *** and ***")
    }

    @Test func connectTimeoutRoundsUpToWholeSeconds() {
        #expect(PostgresConfiguration(url: "", connectTimeout: .milliseconds(1500)).connectTimeoutSeconds == 2)
        #expect(PostgresConfiguration(url: "", connectTimeout: .seconds(3)).connectTimeoutSeconds == 3)
        #expect(PostgresConfiguration(url: "", connectTimeout: .zero).connectTimeoutSeconds == 1)
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01 00:00:00.000000+00"),
        (Int64(951_782_400_123_456), "2000-02-29 00:00:00.123456+00"),
        (Int64(-1), "1969-12-31 23:59:59.999999+00"),
        (Int64(253_402_300_799_999_999), "9999-12-31 23:59:59.999999+00"),
        (Int64(-62_135_596_800_000_000), "0001-01-01 00:00:00.000000+00"),
        (Int64(-62_135_596_800_000_001), "0001-12-31 23:59:59.999999+00 BC"),
    ])
    func timestampsFormatAndParse(micros: Int64, text: String) {
        var buffer: [UInt8] = []
        TimestampText.append(microsecondsSince1970: micros, to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == text)
        let parsed = Array(text.utf8).withUnsafeBytes { TimestampText.microsecondsSince1970($0) }
        #expect(parsed == micros)
    }

    @Test func timestampOffsetsAndShortFractionsParse() {
        func parse(_ text: String) -> Int64? {
            Array(text.utf8).withUnsafeBytes { TimestampText.microsecondsSince1970($0) }
        }
        #expect(parse("2024-05-06 09:38:09.5+05:30") == parse("2024-05-06 04:08:09.500000+00"))
        #expect(parse("2024-05-06 00:00:00-08") == parse("2024-05-06 08:00:00+00"))
        #expect(parse("1900-01-01 00:00:00+00:09:21") == parse("1899-12-31 23:50:39+00"))
        #expect(parse("2024-05-06 04:08:09") == parse("2024-05-06 04:08:09+00"))
        #expect(parse("infinity") == nil)
        #expect(parse("2024-13-01 00:00:00+00") == nil)
        #expect(parse("2024-05-06 04:08:09.1234567+00") == nil)
    }

    @Test func civilDatesRoundTripOverCenturies() {
        for days in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            let (year, month, day) = TimestampText.civil(fromDays: days)
            #expect(TimestampText.days(fromCivilYear: year, month: month, day: day) == days)
        }
    }

    @Test func numericTextIsValidatedExactly() {
        #expect(PostgresNumeric("0.18518505")?.text == "0.18518505")
        #expect(PostgresNumeric("-12.3400")?.text == "-12.3400")
        #expect(PostgresNumeric("+7") != nil)
        #expect(PostgresNumeric("1e5") == nil)
        #expect(PostgresNumeric("NaN") == nil)
        #expect(PostgresNumeric("1.2.3") == nil)
        #expect(PostgresNumeric("-") == nil)
        #expect(PostgresNumeric("0.18518505")?.decimal == Decimal(string: "0.18518505"))
        #expect(PostgresNumeric(String(repeating: "9", count: 39))?.decimal == nil)
        #expect(PostgresNumeric("0.000" + String(repeating: "1", count: 38) + "000")?.decimal != nil)
        #expect(PostgresNumeric(Decimal(string: "123.456")!)?.text == "123.456")
    }

    @Test func classTwentyTwoMessagesHideQuotedInput() {
        #expect(
            PQConnection.hidingQuotedValues(#"invalid input syntax for type integer: "12ab""#)
                == #"invalid input syntax for type integer: "…""#)
    }

    @Test func batchSQLHasOneTuplePerRowAndQuotedNames() throws {
        var batch = PostgresBatchInsert(
            table: "usage", schema: "billing", columns: ["id", "Cost"], onConflict: .doNothingOn(columns: ["id"]))
        try batch.append([1, "a"])
        try batch.append([2, String?.none])
        #expect(batch.rowCount == 2)
        #expect(
            batch.sql(rowCount: 2)
                == #"INSERT INTO "billing"."usage" ("id", "Cost") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO NOTHING"#)
        #expect(throws: PostgresError.self) { try batch.append([1]) }
        #expect(PostgresBatchInsert(table: "t", columns: ["a", "b", "c"]).rowsPerStatement == 21_845)
    }
}
