/// Many rows for one table, inserted with multi-row `INSERT … VALUES (…), (…)` statements.
///
/// Values travel as bind parameters. Rows are split into statements of at most
/// ``maxParametersPerStatement`` parameters (PostgreSQL's limit is 65,535 per statement).
///
/// ```swift
/// var batch = PostgresBatchInsert(table: "usage_events", columns: ["id", "tenant", "cost"],
///                                 onConflict: .doNothing)
/// for event in events {
///     try batch.append([event.id, event.tenant, event.cost])
/// }
/// let inserted = try await pool.insert(batch)
/// ```
public struct PostgresBatchInsert: Sendable {
    /// What to do with a row that violates a unique constraint.
    public enum ConflictAction: Sendable, Hashable {
        /// Fail the statement (plain `INSERT`).
        case fail
        /// Skip the row: `ON CONFLICT DO NOTHING`. Makes re-inserting the same keys a no-op.
        case doNothing
        /// Skip rows that conflict on these columns' unique index: `ON CONFLICT (a, b) DO NOTHING`.
        case doNothingOn(columns: [String])
    }

    /// PostgreSQL's limit on parameters in one statement.
    public static let maxParametersPerStatement = 65_535

    /// The table; quoted as an identifier.
    public let table: String
    /// The table's schema, or nil for the search path; quoted as an identifier.
    public let schema: String?
    /// The columns each row gives values for, in order; quoted as identifiers.
    public let columns: [String]
    /// What to do with conflicting rows.
    public let onConflict: ConflictAction

    /// All rows' values, row after row.
    private(set) var values = PostgresBindings()

    /// Creates an empty batch.
    public init(table: String, schema: String? = nil, columns: [String], onConflict: ConflictAction = .fail) {
        self.table = table
        self.schema = schema
        self.columns = columns
        self.onConflict = onConflict
    }

    /// The number of rows appended.
    public var rowCount: Int {
        self.columns.isEmpty ? 0 : self.values.count / self.columns.count
    }

    /// Appends one row: one value per column, in column order (`Optional.none` for NULL).
    ///
    /// - Throws: ``PostgresError/Code/invalidBatch`` when the row has the wrong number of values.
    public mutating func append(_ row: PostgresBindings) throws {
        guard row.count == self.columns.count, !self.columns.isEmpty else {
            throw PostgresError(
                code: .invalidBatch,
                message: "a row for \(self.table) has \(row.count) values for \(self.columns.count) columns")
        }
        self.values.append(contentsOf: row)
    }

    /// How many rows go into one statement.
    public var rowsPerStatement: Int {
        max(1, Self.maxParametersPerStatement / max(1, self.columns.count))
    }

    /// The `INSERT` for `rowCount` rows, with parameters numbered from `$1`.
    func sql(rowCount: Int) -> String {
        var sql = "INSERT INTO "
        if let schema = self.schema {
            sql += PostgresQuery.quoteIdentifier(schema) + "."
        }
        sql += PostgresQuery.quoteIdentifier(self.table) + " ("
        sql += self.columns.map(PostgresQuery.quoteIdentifier).joined(separator: ", ")
        sql += ") VALUES "
        sql.reserveCapacity(sql.utf8.count + rowCount * self.columns.count * 8)
        var parameter = 1
        for row in 0..<rowCount {
            sql += row == 0 ? "(" : ", ("
            for column in 0..<self.columns.count {
                if column > 0 {
                    sql += ", "
                }
                sql += "$\(parameter)"
                parameter += 1
            }
            sql += ")"
        }
        switch self.onConflict {
        case .fail:
            break
        case .doNothing:
            sql += " ON CONFLICT DO NOTHING"
        case .doNothingOn(let columns):
            let target = columns.map(PostgresQuery.quoteIdentifier).joined(separator: ", ")
            sql += " ON CONFLICT (\(target)) DO NOTHING"
        }
        return sql
    }

    /// Why the batch cannot be sent, if anything.
    var validationError: PostgresError? {
        let names = self.columns + [self.table] + (self.schema.map { [$0] } ?? [])
        if names.contains(where: { $0.utf8.contains(0) }) {
            return PostgresError(code: .invalidBatch, message: "a table or column name contains a NUL byte")
        }
        if let index = self.values.firstParameterWithNUL {
            let columnCount = max(1, self.columns.count)
            return PostgresError(
                code: .invalidParameter,
                message: "row \((index - 1) / columnCount + 1), column \(self.columns[(index - 1) % columnCount]) "
                    + "contains a NUL byte, which PostgreSQL text cannot hold")
        }
        return nil
    }
}

extension PostgresConnection {
    /// Inserts the batch's rows and returns how many were inserted (conflicting rows skipped by
    /// `ON CONFLICT DO NOTHING` are not counted).
    ///
    /// - Important: A batch larger than one statement is atomic only inside a transaction;
    ///   ``PostgresPool/insert(_:)`` opens one for it.
    public func insert(_ batch: PostgresBatchInsert) async throws -> Int {
        guard batch.rowCount > 0 else {
            return 0
        }
        if let error = batch.validationError {
            throw error
        }
        return try await self.run { connection in
            var inserted = 0
            let perStatement = batch.rowsPerStatement
            let columnCount = batch.columns.count
            var row = 0
            var fullSQL: String?
            while row < batch.rowCount {
                let rows = min(perStatement, batch.rowCount - row)
                let sql: String
                if rows == perStatement {
                    if fullSQL == nil {
                        fullSQL = batch.sql(rowCount: rows)
                    }
                    sql = fullSQL!
                } else {
                    sql = batch.sql(rowCount: rows)
                }
                let parameters = (row * columnCount)..<((row + rows) * columnCount)
                inserted += try connection.execute(sql: sql, bindings: batch.values, parameters: parameters)
                    .affectedRows
                row += rows
            }
            return inserted
        }
    }
}

extension PostgresPool {
    /// Inserts the batch's rows, in one transaction when they need more than one statement, and
    /// returns how many were inserted.
    public func insert(_ batch: PostgresBatchInsert) async throws -> Int {
        if batch.rowCount <= batch.rowsPerStatement {
            return try await self.withConnection { try await $0.insert(batch) }
        }
        return try await self.transaction { try await $0.insert(batch) }
    }
}
