/// A column of a result: its name, position and type.
public struct PostgresColumn: Sendable, Hashable {
    /// The column's name (`AS` alias if any).
    public let name: String
    /// The column's position, from 0.
    public let index: Int
    /// The column's type.
    public let dataType: PostgresDataType
}

/// The rows of a statement's result, copied out of libpq, plus its command tag.
///
/// Cells hold PostgreSQL's text representation; ``PostgresRow/decode(_:column:)`` turns them into
/// Swift values.
public struct PostgresRows: Sendable, RandomAccessCollection {
    let storage: PostgresResultStorage

    /// The number of rows a command inserted, updated, deleted, selected or copied; 0 for others.
    public let affectedRows: Int

    /// The command tag, e.g. `INSERT 0 3`, `UPDATE 1`, `SELECT 2`, `BEGIN`.
    public let commandTag: String

    init(storage: PostgresResultStorage, affectedRows: Int, commandTag: String) {
        self.storage = storage
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    /// The result's columns; empty for commands that return no rows.
    public var columns: [PostgresColumn] {
        self.storage.columns
    }

    public var startIndex: Int { 0 }

    public var endIndex: Int { self.storage.rowCount }

    public subscript(position: Int) -> PostgresRow {
        precondition(position >= 0 && position < self.storage.rowCount, "row index out of range")
        return PostgresRow(storage: self.storage, index: position)
    }
}

/// One row of a ``PostgresRows`` result.
public struct PostgresRow: Sendable {
    let storage: PostgresResultStorage

    /// The row's position in its result, from 0.
    public let index: Int

    /// The result's columns.
    public var columns: [PostgresColumn] {
        self.storage.columns
    }

    /// The cell in column `index`, or nil when there is no such column.
    public func cell(at index: Int) -> PostgresCell? {
        guard index >= 0 && index < self.storage.columns.count else {
            return nil
        }
        return PostgresCell(storage: self.storage, row: self.index, column: self.storage.columns[index])
    }

    /// The cell in the first column named `name` (exact, case-sensitive), or nil when there is none.
    public func cell(named name: String) -> PostgresCell? {
        guard let column = self.storage.columns.first(where: { $0.name == name }) else {
            return nil
        }
        return PostgresCell(storage: self.storage, row: self.index, column: column)
    }
}

/// One value of a row, in PostgreSQL's text representation.
public struct PostgresCell: Sendable {
    let storage: PostgresResultStorage
    let row: Int

    /// The cell's column.
    public let column: PostgresColumn

    /// The cell's type.
    public var dataType: PostgresDataType {
        self.column.dataType
    }

    /// Whether the cell is SQL NULL.
    public var isNull: Bool {
        self.storage.span(row: self.row, column: self.column.index).length < 0
    }

    /// Calls `body` with the cell's text bytes (UTF-8, no terminating NUL); empty for NULL.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let span = self.storage.span(row: self.row, column: self.column.index)
        return try self.storage.bytes.withUnsafeBytes { all in
            guard span.length > 0 else {
                return try body(UnsafeRawBufferPointer(start: nil, count: 0))
            }
            return try body(UnsafeRawBufferPointer(rebasing: all[span.offset..<(span.offset + span.length)]))
        }
    }

    /// The cell's text, or nil for NULL.
    public var text: String? {
        guard !self.isNull else {
            return nil
        }
        return self.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }
}

/// A result's cells, copied out of a `PGresult` so that no libpq memory outlives the worker call.
final class PostgresResultStorage: Sendable {
    struct Span: Sendable {
        /// Where the cell starts in `bytes`.
        var offset: Int
        /// The cell's length; -1 for NULL.
        var length: Int
    }

    let columns: [PostgresColumn]
    let rowCount: Int
    /// All cells' bytes, row after row.
    let bytes: [UInt8]
    /// One span per cell, `rowCount * columns.count` in row order.
    let spans: [Span]

    init(columns: [PostgresColumn], rowCount: Int, bytes: [UInt8], spans: [Span]) {
        self.columns = columns
        self.rowCount = rowCount
        self.bytes = bytes
        self.spans = spans
    }

    static let empty = PostgresResultStorage(columns: [], rowCount: 0, bytes: [], spans: [])

    func span(row: Int, column: Int) -> Span {
        self.spans[row * self.columns.count + column]
    }
}
