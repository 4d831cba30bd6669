import Foundation
import Postgres
import Testing

/// Parameters and typed decoding against the real PostgreSQL.
@Suite struct ValueRoundTripTests {
    static let awkwardStrings: [String] = [
        "it's", "O''Brien", #"back\slash"#, #"\\double\\"#, "$1", "$$dollar$$", "-- comment", "/* block */",
        "'; DROP TABLE users; --", "\"quoted\"", "😀👩‍👩‍👧‍👦", "中文字符", "مرحبا بالعالم", "עברית", "", " ",
        "tab\tnew\nline\r\n", "\u{7}\u{1b}[31m", "\u{FEFF}bom", String(repeating: "long-ü-", count: 150_000),
    ]

    @Test func awkwardStringsRoundTripThroughATable() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY, body text NOT NULL", in: pool) { table in
                for (id, value) in Self.awkwardStrings.enumerated() {
                    try await pool.execute("INSERT INTO \(identifier: table) (id, body) VALUES (\(id), \(value))")
                }
                for (id, value) in Self.awkwardStrings.enumerated() {
                    let stored = try await pool.query("SELECT body FROM \(identifier: table) WHERE id = \(id)")
                    #expect(try stored.first?.decode(String.self, column: "body") == value)
                    let matched = try await pool.query("SELECT id FROM \(identifier: table) WHERE body = \(value)")
                    #expect(try matched.map { try $0.decode(Int.self) } == [id])
                }
                // The table survived the injection attempts.
                #expect(try await TestDatabase.count(table, in: pool) == Int64(Self.awkwardStrings.count))
            }
        }
    }

    @Test func awkwardStringsRoundTripAsBareParameters() async throws {
        try await TestDatabase.withPool { pool in
            for value in Self.awkwardStrings {
                let row = try #require(try await pool.query("SELECT \(value) AS echoed, length(\(value))").first)
                #expect(try row.decode(String.self, column: "echoed") == value)
                #expect(try row.decode(Int.self, at: 1) == value.unicodeScalars.count)
            }
        }
    }

    @Test func awkwardIdentifiersAreQuoted() async throws {
        try await TestDatabase.withPool { pool in
            let table = TestDatabase.uniqueName("we\"ird; DROP TABLE x; --")
            try await pool.execute("CREATE TABLE \(identifier: table) (\(identifier: "Mixed Case \"col\"") int)")
            try await pool.execute("INSERT INTO \(identifier: table) VALUES (\(Int32(5)))")
            let rows = try await pool.query("SELECT * FROM \(identifier: table)")
            #expect(rows.columns.map(\.name) == ["Mixed Case \"col\""])
            #expect(try rows.first?.decode(Int32.self, column: "Mixed Case \"col\"") == 5)
            try await pool.execute("DROP TABLE \(identifier: table)")
        }
    }

    @Test func nulInStringIsRefusedBeforeSending() async throws {
        try await TestDatabase.withPool { pool in
            let error = await #expect(throws: PostgresError.self) {
                try await pool.query("SELECT \(1), \("before\u{0}after")")
            }
            #expect(error?.code == .invalidParameter)
            #expect(error?.description.contains("$2") == true)
            #expect(error?.description.contains("before") == false)
        }
    }

    @Test func numericRoundTripsExactly() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY, amount numeric(30, 8), wide numeric", in: pool) { table in
                let amount = try #require(PostgresNumeric("0.18518505"))
                let wide = try #require(PostgresNumeric("-123456789012345678901234567890.123456789012345678901"))
                try await pool.execute(
                    "INSERT INTO \(identifier: table) VALUES (\(1), \(amount), \(wide)), (\(2), \(Decimal(string: "12.5")!), NULL)")
                let rows = try await pool.query("SELECT amount, wide FROM \(identifier: table) ORDER BY id")
                #expect(try rows[0].decode(PostgresNumeric.self, column: "amount") == amount)
                #expect(try rows[0].decode(Decimal.self, column: "amount") == Decimal(string: "0.18518505"))
                #expect(try rows[0].decode(PostgresNumeric.self, column: "wide") == wide)
                #expect(throws: PostgresError.self) { try rows[0].decode(Decimal.self, column: "wide") }
                #expect(try rows[1].decode(PostgresNumeric.self, column: "amount").text == "12.50000000")
                #expect(try rows[1].decode(PostgresNumeric?.self, column: "wide") == nil)
                // Arithmetic in SQL stays exact too.
                let sum = try await pool.query("SELECT \(amount) * 3").first!.decode(PostgresNumeric.self)
                #expect(sum.text == "0.55555515")
            }
        }
    }

    @Test func typedValuesRoundTrip() async throws {
        try await TestDatabase.withPool { pool in
            let date = Date(timeIntervalSinceReferenceDate: 752_000_000.123456)
            let old = Date(timeIntervalSince1970: -2_000_000_000.5)
            let uuid = UUID()
            let bytes = [UInt8](0...255) + [0, 0]
            let row = try #require(
                try await pool.query(
                    """
                    SELECT \(date) AS at, \(old) AS old, \(uuid) AS id, \(bytes) AS blob, \([UInt8]()) AS empty,
                           \(true) AS yes, \(Int32.min) AS small, \(Int64.max) AS big, \(Int16(-7)) AS tiny,
                           \(0.1) AS tenth, \(Double.infinity) AS inf, \(-0.0) AS negzero,
                           \("{\"a\": [1, 2]}")::jsonb AS doc
                    """
                ).first)
            #expect(try row.decode(Date.self, column: "at") == date)
            #expect(try row.decode(Date.self, column: "old") == old)
            #expect(try row.decode(UUID.self, column: "id") == uuid)
            #expect(try row.decode([UInt8].self, column: "blob") == bytes)
            #expect(try row.decode([UInt8].self, column: "empty") == [])
            #expect(try row.decode(Bool.self, column: "yes"))
            #expect(try row.decode(Int32.self, column: "small") == Int32.min)
            #expect(try row.decode(Int64.self, column: "big") == Int64.max)
            #expect(try row.decode(Int16.self, column: "tiny") == -7)
            #expect(try row.decode(Double.self, column: "tenth") == 0.1)
            #expect(try row.decode(Double.self, column: "inf") == .infinity)
            #expect(try row.decode(Double.self, column: "negzero").sign == .minus)
            #expect(try row.decode(String.self, column: "doc") == #"{"a": [1, 2]}"#)
        }
    }

    @Test func timestamptzDecodesToTheSameInstantInAnySessionTimeZone() async throws {
        try await TestDatabase.withPool(size: 1) { pool in
            let expected = Date(timeIntervalSince1970: 1_709_210_096.789012)
            try await pool.withConnection { connection in
                for zone in ["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"] {
                    try await connection.execute(PostgresQuery(unsafeSQL: "SET TimeZone TO '\(zone)'"))
                    let row = try #require(
                        try await connection.query("SELECT '2024-02-29 12:34:56.789012+00'::timestamptz").first)
                    let decoded = try row.decode(Date.self)
                    #expect(abs(decoded.timeIntervalSince(expected)) < 0.000_001, "in \(zone)")
                }
                try await connection.execute("RESET TimeZone")
            }
        }
    }

    @Test func nullsDecodeAsOptionalsAndFailAsNonOptionals() async throws {
        try await TestDatabase.withPool { pool in
            let missing: String? = nil
            let row = try #require(
                try await pool.query("SELECT \(missing) AS note, NULL::int8 AS amount, \(Int?.some(3)) AS three").first)
            let (note, amount, three) = try row.decode((String?, Int64?, Int?).self)
            #expect(note == nil)
            #expect(amount == nil)
            #expect(three == 3)
            let error = #expect(throws: PostgresError.self) { try row.decode(Int64.self, column: "amount") }
            #expect(error?.code == .decodingFailed)
            #expect(error?.description.contains("\"amount\"") == true)
            #expect(error?.description.contains("NULL") == true)
        }
    }

    @Test func typeMismatchNamesColumnAndTypes() async throws {
        try await TestDatabase.withPool { pool in
            let row = try #require(try await pool.query("SELECT 'secret-label'::text AS label, 12::int8 AS n").first)
            let error = #expect(throws: PostgresError.self) { try row.decode(Int64.self, column: "label") }
            let text = error?.description ?? ""
            #expect(error?.code == .decodingFailed)
            #expect(text.contains("\"label\""))
            #expect(text.contains("text"))
            #expect(text.contains("Int64"))
            #expect(!text.contains("secret-label"))
            #expect(throws: PostgresError.self) { try row.decode(String.self, column: "n") }
            #expect(throws: PostgresError.self) { try row.decode(Int.self, column: "nope") }
            #expect(throws: PostgresError.self) { try row.decode((String, Int64, Int64).self) }
            let overflow = try #require(try await pool.query("SELECT 3000000000::int8").first)
            #expect(throws: PostgresError.self) { try overflow.decode(Int32.self) }
        }
    }

    @Test func commandsReportAffectedRows() async throws {
        try await TestDatabase.withPool { pool in
            try await TestDatabase.withTable("id int PRIMARY KEY, n int", in: pool) { table in
                let inserted = try await pool.execute(
                    "INSERT INTO \(identifier: table) SELECT g, 0 FROM generate_series(1, \(25)) g")
                #expect(inserted == 25)
                let updated = try await pool.query("UPDATE \(identifier: table) SET n = 1 WHERE id <= \(10)")
                #expect(updated.affectedRows == 10)
                #expect(updated.commandTag == "UPDATE 10")
                #expect(updated.isEmpty)
                #expect(try await pool.execute("DELETE FROM \(identifier: table) WHERE id > \(100)") == 0)
            }
        }
    }
}
