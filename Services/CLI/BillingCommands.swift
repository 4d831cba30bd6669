import ArgumentParser
import ChorusRuntime
import Foundation
import Postgres

struct BillingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "billing", abstract: "Who spent what.", subcommands: [Report.self, Grant.self])

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Spend from billing.daily_spend, grouped by day, model, provider or project.")

        enum Dimension: String, ExpressibleByArgument, CaseIterable { case day, model, provider, project }
        enum Format: String, ExpressibleByArgument, CaseIterable { case table, csv, json }

        @Option(help: "Only this project.") var project: String?
        @Option(help: "From this day (YYYY-MM-DD, UTC), inclusive.") var since: String?
        @Option(help: "Until this day (YYYY-MM-DD, UTC), inclusive.") var until: String?
        @Option(help: "Group by day, model, provider or project.") var by: Dimension = .day
        @Option(help: "table, csv or json.") var format: Format = .table

        func validate() throws {
            for (name, value) in [("--since", since), ("--until", until)] {
                if let value, value.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) == nil {
                    throw ValidationError("\(name) must be a day like 2026-11-21, got \"\(value)\"")
                }
            }
        }

        func run() async {
            await guarded {
                let env = try Environment.load()
                let db = try await DatabaseSettings(reader: env.reader).connectedPool(
                    applicationName: "chorus-cli", logger: env.logger, poolSize: 1)
                // The grouping column comes from a fixed set, never from user text.
                let key = by == .day ? "day::text" : by.rawValue
                let sql = """
                    SELECT \(key) AS key, sum(calls)::bigint, sum(input_tokens)::bigint, sum(output_tokens)::bigint,
                           sum(gpu_seconds)::text, sum(cost_usd)::text
                    FROM billing.daily_spend
                    WHERE ($1::text IS NULL OR project = $1)
                      AND ($2::date IS NULL OR day >= $2::date)
                      AND ($3::date IS NULL OR day <= $3::date)
                    GROUP BY 1 ORDER BY 1
                    """
                let rows = try await db.query(PostgresQuery(unsafeSQL: sql, bindings: [project, since, until]))
                    .map { try $0.decode((String, Int64, Int64, Int64, String, String).self) }
                await db.close()
                print(Self.render(rows, key: by.rawValue, format: format))
            }
        }

        static func render(_ rows: [(String, Int64, Int64, Int64, String, String)], key: String, format: Format) -> String {
            let header = [key, "calls", "input_tokens", "output_tokens", "gpu_seconds", "cost_usd"]
            let cells = rows.map { [$0.0, "\($0.1)", "\($0.2)", "\($0.3)", trim($0.4), trim($0.5)] }
            switch format {
            case .csv:
                return ([header] + cells).map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n")
            case .json:
                let objects = rows.map { row in
                    "{\"\(key)\":\(ChorusLogHandler.jsonString(row.0)),\"calls\":\(row.1),\"input_tokens\":\(row.2),\"output_tokens\":\(row.3),\"gpu_seconds\":\"\(trim(row.4))\",\"cost_usd\":\"\(trim(row.5))\"}"
                }
                return "[" + objects.joined(separator: ",\n ") + "]"
            case .table:
                let all = [header] + cells
                let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
                return all.enumerated().map { index, row in
                    let line = row.enumerated().map { column, cell in
                        column == 0 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                            : String(repeating: " ", count: widths[column] - cell.count) + cell
                    }.joined(separator: "  ")
                    return index == 0 ? line + "\n" + String(repeating: "-", count: line.count) : line
                }.joined(separator: "\n")
            }
        }

        /// `0.905230301000` → `0.905230301`: exact, without the column's padding zeros.
        static func trim(_ decimal: String) -> String {
            guard decimal.contains(".") else { return decimal }
            var text = decimal
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
            return text
        }

        static func csvField(_ text: String) -> String {
            text.contains(",") || text.contains("\"") || text.contains("\n")
                ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
        }
    }

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give the chorus_billing role read access to the billing views (after creating it).")

        func run() async {
            await guarded {
                let env = try Environment.load()
                let db = try await DatabaseSettings(reader: env.reader).connectedPool(
                    applicationName: "chorus-cli", logger: env.logger, poolSize: 1)
                let granted = try await grantBillingRole(db)
                await db.close()
                print(granted ? "chorus: chorus_billing can read the billing views" : "chorus: no role chorus_billing exists; create it first (docs/billing.md)")
            }
        }
    }
}

/// Grants the read-only billing role its views, if the role exists. Returns whether it does.
func grantBillingRole(_ db: PostgresPool) async throws -> Bool {
    let exists = try await db.query("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chorus_billing')").first!.decode(Bool.self, at: 0)
    guard exists else { return false }
    try await db.execute("GRANT USAGE ON SCHEMA billing TO chorus_billing")
    try await db.execute("GRANT SELECT ON ALL TABLES IN SCHEMA billing TO chorus_billing")
    return true
}
