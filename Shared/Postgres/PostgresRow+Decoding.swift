extension PostgresRow {
    /// Decodes the first column named `name` as `Value`.
    ///
    /// Decode nullable columns as `Optional`; a NULL decoded as a non-optional type is an error.
    /// - Throws: ``PostgresError`` with ``PostgresError/Code/decodingFailed`` naming the column and types.
    public func decode<Value: PostgresDecodable>(_ type: Value.Type, column name: String) throws -> Value {
        guard let cell = self.cell(named: name) else {
            throw PostgresError(
                code: .decodingFailed,
                message: "no column named \"\(name)\" (columns: \(self.columns.map(\.name).joined(separator: ", ")))")
        }
        return try Self.decode(Value.self, cell)
    }

    /// Decodes column `index` (from 0) as `Value`.
    ///
    /// - Throws: ``PostgresError`` with ``PostgresError/Code/decodingFailed`` naming the column and types.
    public func decode<Value: PostgresDecodable>(_ type: Value.Type, at index: Int) throws -> Value {
        guard let cell = self.cell(at: index) else {
            throw PostgresError(
                code: .decodingFailed, message: "no column at index \(index) (the row has \(self.columns.count))")
        }
        return try Self.decode(Value.self, cell)
    }

    /// Decodes the first column as `Value`.
    public func decode<Value: PostgresDecodable>(_ type: Value.Type) throws -> Value {
        try self.decode(Value.self, at: 0)
    }

    /// Decodes the first columns, in order, as a tuple: `try row.decode((Int64, String, String?).self)`.
    ///
    /// - Throws: ``PostgresError`` with ``PostgresError/Code/decodingFailed`` naming the column and
    ///   types, or when the row has fewer columns than the tuple.
    public func decode<each Value: PostgresDecodable>(_ types: (repeat each Value).Type) throws -> (repeat each Value) {
        var count = 0
        for _ in repeat (each Value).self {
            count += 1
        }
        guard count <= self.columns.count else {
            throw PostgresError(
                code: .decodingFailed,
                message: "cannot decode \(count) columns from a row of \(self.columns.count)")
        }
        var index = 0
        func next<Column: PostgresDecodable>(_ type: Column.Type) throws -> Column {
            defer { index += 1 }
            return try self.decode(Column.self, at: index)
        }
        return (repeat try next((each Value).self))
    }

    private static func decode<Value: PostgresDecodable>(_ type: Value.Type, _ cell: PostgresCell) throws -> Value {
        do {
            return try Value.decode(from: cell)
        } catch let failure as PostgresDecodingFailure {
            throw PostgresError(
                code: .decodingFailed,
                message: "cannot decode column \"\(cell.column.name)\" (index \(cell.column.index), "
                    + "\(cell.isNull ? "NULL " : "")\(cell.dataType)) as \(Value.self): \(failure.reason)")
        }
    }
}
