import CLibPQ
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns one libpq connection (`PGconn`). Not `Sendable`: it lives on, and is used only by, the
/// thread of its ``PQWorker``.
final class PQConnection {
    private let handle: OpaquePointer
    private let settings: PQConnectionSettings
    /// Server-side prepared statements of this session, by statement text and parameter types.
    private var statements = PreparedStatements()

    private init(handle: OpaquePointer, settings: PQConnectionSettings) {
        self.handle = handle
        self.settings = settings
    }

    deinit {
        PQfinish(self.handle)
    }

    /// Opens a connection (blocking, up to the connect timeout) and prepares its session.
    static func connect(_ settings: PQConnectionSettings) throws -> PQConnection {
        try settings.validateURL()
        let handle = withCStringArray(settings.keywords) { keywords in
            withCStringArray(settings.values) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let handle else {
            throw settings.connectionFailed("out of memory")
        }
        // PQconnectdbParams returns a PGconn even when it fails; from here `connection` owns it
        // and its deinit calls PQfinish.
        let connection = PQConnection(handle: handle, settings: settings)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw settings.connectionFailed(String(cString: PQerrorMessage(handle)))
        }
        try connection.prepareSession()
        return connection
    }

    /// Reconnects with the same parameters (blocking).
    func reset() throws {
        self.statements = PreparedStatements()  // a new session has none
        PQreset(self.handle)
        guard PQstatus(self.handle) == CONNECTION_OK else {
            throw self.settings.connectionFailed(String(cString: PQerrorMessage(self.handle)))
        }
        try self.prepareSession()
    }

    private func prepareSession() throws {
        // Notices ("relation already exists, skipping") would otherwise go to stderr.
        PQsetNoticeProcessor(self.handle, { _, _ in }, nil)
        // Timestamps are parsed in ISO form and bytea in hex form: pin both for this session.
        do {
            _ = try self.execute("SET DateStyle TO ISO, MDY; SET bytea_output TO hex")
        } catch let error as PostgresError {
            throw self.settings.connectionFailed("session setup failed: \(error)")
        }
    }

    // MARK: - State

    /// Whether libpq still considers the connection open.
    var isOpen: Bool {
        PQstatus(self.handle) == CONNECTION_OK
    }

    /// Whether a transaction block is open (possibly failed) on the server.
    var isInTransaction: Bool {
        let status = PQtransactionStatus(self.handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    /// Whether the connection is open and idle outside a transaction.
    var isIdle: Bool {
        PQtransactionStatus(self.handle) == PQTRANS_IDLE
    }

    /// What a cancel request for this connection's current backend needs; nil if libpq has none.
    func makeCancelTarget() -> PQCancelTarget? {
        guard self.isOpen, let cancel = PQgetCancel(self.handle) else {
            return nil
        }
        return PQCancelTarget(cancel)
    }

    /// The server process serving this connection.
    var backendPID: Int32 {
        PQbackendPID(self.handle)
    }

    /// Whether the connection is still usable, after reading anything the server sent while it
    /// sat idle.
    ///
    /// A terminated backend (server restart, `pg_terminate_backend`) sends a FATAL message and
    /// closes the socket; libpq learns of it only when it reads. Reading here, before a statement
    /// is sent, lets the pool reconnect instead of failing the statement.
    func isUsable() -> Bool {
        guard self.isOpen else {
            return false
        }
        let socket = PQsocket(self.handle)
        guard socket >= 0 else {
            return false
        }
        // libpq reads the pending bytes in one call and notices the end of file only in the next,
        // hence a few rounds while the socket stays readable.
        for _ in 0..<4 {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else {
                break
            }
            guard PQconsumeInput(self.handle) == 1 else {
                return false
            }
            // Parses what was read, handing notices to the notice processor.
            _ = PQisBusy(self.handle)
            self.discardNotifications()
            guard self.isOpen else {
                return false
            }
        }
        return self.isOpen
    }

    private func discardNotifications() {
        while let notification = PQnotifies(self.handle) {
            PQfreemem(notification)
        }
    }

    // MARK: - Notifications

    /// The connection's socket, for waiting until the server sends something.
    var socket: Int32 {
        PQsocket(self.handle)
    }

    /// Reads what the server sent without blocking; false when the connection is lost.
    func consumeInput() -> Bool {
        PQconsumeInput(self.handle) == 1 && self.isOpen
    }

    /// The next notification received, if any.
    func nextNotification() -> PostgresNotification? {
        guard let notify = PQnotifies(self.handle) else {
            return nil
        }
        // PQnotifies hands over a PGnotify (and its strings, allocated with it) to free with PQfreemem.
        defer { PQfreemem(notify) }
        return PostgresNotification(
            channel: String(cString: notify.pointee.relname), payload: String(cString: notify.pointee.extra),
            senderPID: notify.pointee.be_pid)
    }

    // MARK: - Statements

    /// Runs a query: over the simple query protocol when it has no parameters (several statements
    /// allowed), else as one parameterized statement.
    func execute(_ query: PostgresQuery) throws -> PostgresRows {
        if let error = query.validationError {
            throw error
        }
        if query.bindings.count == 0 {
            return try self.rows(from: PQexec(self.handle, query.sql))
        }
        return try self.execute(sql: query.sql, bindings: query.bindings, parameters: 0..<query.bindings.count)
    }

    /// Runs one statement whose `$1 … $n` are `bindings`' parameters in `parameters`.
    func execute(sql: String, bindings: PostgresBindings, parameters: Range<Int>) throws -> PostgresRows {
        let selected = bindings.parameters[parameters]
        let types = selected.map { $0.dataType.rawValue }
        let lengths = selected.map { Int32(clamping: max($0.length, 0)) }
        let formats = selected.map { $0.format.rawValue }
        // A zero-length binary value still needs a non-NULL pointer: NULL would mean SQL NULL.
        let bytes = bindings.bytes.isEmpty ? [0] : bindings.bytes
        let result = bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            let base = UnsafeRawPointer(buffer.baseAddress!)
            let values: [UnsafePointer<CChar>?] = selected.map { parameter in
                parameter.length < 0 ? nil : (base + parameter.offset).assumingMemoryBound(to: CChar.self)
            }
            // Text values are NUL-terminated in `bytes`; libpq reads lengths only for binary ones.
            if let name = self.preparedName(sql: sql, types: types) {
                let result = PQexecPrepared(self.handle, name, Int32(selected.count), values, lengths, formats, PostgresFormat.text.rawValue)
                guard let result, Self.sqlState(result) == "26000" else { return result }
                // The server does not know the statement (a pooler between us switched sessions):
                // stop preparing on this connection and run it as before.
                PQclear(result)
                self.statements.disable()
            }
            return PQexecParams(
                self.handle, sql, Int32(selected.count), types, values, lengths, formats, PostgresFormat.text.rawValue)
        }
        return try self.rows(from: result)
    }

    /// The name of the session's prepared statement for `sql` with these parameter types, preparing
    /// it on its second use (a statement run once is not worth a round trip); nil: run it unprepared.
    ///
    /// A prepared statement is parsed and planned once per session instead of at every execution. A
    /// failed prepare (a statement with an error, a failed transaction) is not remembered: the
    /// unprepared run that follows reports the statement's error as before.
    private func preparedName(sql: String, types: [UInt32]) -> String? {
        let key = PreparedStatements.Key(sql: sql, types: types)
        if let name = self.statements.names[key] {
            return name
        }
        guard self.statements.shouldPrepare(key), self.isIdle else {
            return nil
        }
        let name = "chorus_\(self.statements.names.count)"
        guard let result = PQprepare(self.handle, name, sql, Int32(types.count), types) else {
            return nil
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            return nil
        }
        self.statements.names[key] = name
        return name
    }

    // MARK: - Results

    private func rows(from result: OpaquePointer?) throws -> PostgresRows {
        guard let result else {
            throw self.errorWithoutResult()
        }
        // PQexec and PQexecParams hand us the PGresult; it is freed here, after its cells are copied.
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            return Self.copyRows(result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            self.abandonCopy(status)
            throw PostgresError(
                code: .unsupportedStatement, message: "COPY is not supported; use PostgresBatchInsert")
        default:
            throw self.error(from: result)
        }
    }

    private static func copyRows(_ result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        let affectedRows = Int(String(cString: PQcmdTuples(result))) ?? 0
        let commandTag = String(cString: PQcmdStatus(result))
        guard columnCount > 0 else {
            return PostgresRows(storage: .empty, affectedRows: affectedRows, commandTag: commandTag)
        }
        let columns = (0..<columnCount).map { index in
            PostgresColumn(
                name: String(cString: PQfname(result, Int32(index))), index: index,
                dataType: PostgresDataType(rawValue: PQftype(result, Int32(index))))
        }
        var total = 0
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) {
                total += Int(PQgetlength(result, row, column))
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(total)
        var spans: [PostgresResultStorage.Span] = []
        spans.reserveCapacity(rowCount * columnCount)
        for row in 0..<Int32(rowCount) {
            for column in 0..<Int32(columnCount) {
                guard PQgetisnull(result, row, column) == 0 else {
                    spans.append(.init(offset: bytes.count, length: -1))
                    continue
                }
                let length = Int(PQgetlength(result, row, column))
                spans.append(.init(offset: bytes.count, length: length))
                if length > 0, let value = PQgetvalue(result, row, column) {
                    bytes.append(contentsOf: UnsafeRawBufferPointer(start: value, count: length))
                }
            }
        }
        let storage = PostgresResultStorage(columns: columns, rowCount: rowCount, bytes: bytes, spans: spans)
        return PostgresRows(storage: storage, affectedRows: affectedRows, commandTag: commandTag)
    }

    /// Ends a COPY that a statement started, so that the connection is usable again.
    private func abandonCopy(_ status: ExecStatusType) {
        if status == PGRES_COPY_IN {
            _ = PQputCopyEnd(self.handle, "COPY is not supported by this client")
        } else {
            var buffer: UnsafeMutablePointer<CChar>?
            while PQgetCopyData(self.handle, &buffer, 0) >= 0 {
                if let data = buffer {
                    PQfreemem(data)
                }
                buffer = nil
            }
        }
        while let result = PQgetResult(self.handle) {
            PQclear(result)
        }
    }

    private static func sqlState(_ result: OpaquePointer) -> String? {
        PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
    }

    private func error(from result: OpaquePointer) -> PostgresError {
        func field(_ code: Unicode.Scalar) -> String? {
            PQresultErrorField(result, Int32(UInt8(ascii: code))).map { String(cString: $0) }
        }
        let sqlState = field("C")
        var message = field("M") ?? Self.firstLine(String(cString: PQresultErrorMessage(result)))
        if message.isEmpty {
            message = "the server reported an error"
        }
        if let sqlState, sqlState.hasPrefix("22") {
            message = Self.hidingQuotedValues(message)
        }
        return PostgresError(
            code: self.isOpen ? .queryFailed : .connectionLost, message: message, sqlState: sqlState,
            constraintName: field("n"))
    }

    private func errorWithoutResult() -> PostgresError {
        let message = Self.firstLine(String(cString: PQerrorMessage(self.handle)))
        return PostgresError(
            code: self.isOpen ? .queryFailed : .connectionLost,
            message: message.isEmpty ? "libpq returned no result" : message)
    }

    // MARK: - Helpers

    static func firstLine(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).first ?? ""
        return line.trimmingCharacters(in: .whitespaces)
    }

    /// Data exceptions (SQLSTATE class 22) quote the offending input, e.g. `invalid input syntax
    /// for type integer: "abc"`, and that input is a parameter: replace quoted parts with `"…"`.
    static func hidingQuotedValues(_ message: String) -> String {
        var result = ""
        var inQuotes = false
        for character in message {
            if character == "\"" {
                result.append(inQuotes ? "…\"" : "\"")
                inQuotes.toggle()
            } else if !inQuotes {
                result.append(character)
            }
        }
        return result
    }
}

/// Calls `body` with a NULL-terminated array of C strings, valid only inside `body`.
private func withCStringArray<Result>(
    _ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> Result
) -> Result {
    let copies = strings.map { strdup($0) }
    defer {
        for copy in copies {
            free(copy)
        }
    }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// A session's prepared statements: which statements were seen once (candidates) and the names of
/// those prepared. Bounded: statement texts built per call (multi-row inserts of varying length) must
/// not grow the server's memory without limit; past the bound, statements simply run unprepared.
struct PreparedStatements {
    struct Key: Hashable {
        var sql: String
        var types: [UInt32]
    }

    static let maxPrepared = 64
    static let maxCandidates = 256

    var names: [Key: String] = [:]
    private var seenOnce: Set<Key> = []
    private var disabled = false

    /// Whether `key` should be prepared now: on its second use, while there is room.
    mutating func shouldPrepare(_ key: Key) -> Bool {
        guard !disabled, names.count < Self.maxPrepared else { return false }
        if seenOnce.remove(key) != nil { return true }
        if seenOnce.count >= Self.maxCandidates { seenOnce.removeAll(keepingCapacity: true) }
        seenOnce.insert(key)
        return false
    }

    /// Forgets every statement and prepares no more (the server lost them: a transaction-mode pooler).
    mutating func disable() {
        names = [:]
        seenOnce = []
        disabled = true
    }
}
