import ArgumentParser
import ChorusRuntime
import Contracts
import Foundation
import Postgres

struct ProjectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "project", abstract: "Projects and their budgets.", subcommands: [Create.self, Budget.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a project (idempotent).")
        @Argument(help: "Letters, digits, '.', '_' or '-', up to 64.") var project: String
        @Option(help: "Spend limit in US dollars (exact decimal).") var budget: String?

        func run() async {
            await guarded {
                let limit = try parseBudget(budget)
                let db = try await openDatabase()
                try await db.execute("""
                    INSERT INTO projects (id, budget_usd) VALUES (\(project), \(limit?.description)::numeric)
                    ON CONFLICT (id) DO NOTHING
                    """)
                await db.close()
                print("chorus: project \(project) ready" + (limit.map { " with a budget of $\($0)" } ?? ""))
            }
        }
    }

    struct Budget: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set or clear a project's spend limit.")
        @Argument var project: String
        @Argument(help: "US dollars, or `none`.") var amount: String

        func run() async {
            await guarded {
                let limit = amount == "none" ? nil : try parseBudget(amount)
                let db = try await openDatabase()
                let updated = try await db.execute("UPDATE projects SET budget_usd = \(limit?.description)::numeric WHERE id = \(project)")
                await db.close()
                guard updated == 1 else { throw ValidationError("no project \(project) (create it with chorus project create)") }
                print("chorus: project \(project) budget " + (limit.map { "$\($0)" } ?? "removed"))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Projects with budget, spend and holds.")

        func run() async {
            await guarded {
                let db = try await openDatabase()
                let rows = try await db.query("""
                    SELECT project, coalesce(budget_usd::text, '-'), spent_usd::text, held_usd::text FROM billing.project_budgets ORDER BY project
                    """).map { try $0.decode((String, String, String, String).self) }
                await db.close()
                print("project".padding(toLength: 24, withPad: " ", startingAt: 0) + "budget_usd      spent_usd       held_usd")
                for (project, budget, spent, held) in rows {
                    print(project.padding(toLength: 24, withPad: " ", startingAt: 0)
                        + [budget, spent, held].map { BillingCommand.Report.trim($0).padding(toLength: 16, withPad: " ", startingAt: 0) }.joined())
                }
            }
        }
    }
}

func parseBudget(_ text: String?) throws -> Money? {
    guard let text else { return nil }
    guard let amount = Money(decimal: text), amount >= .zero else {
        throw ValidationError("a budget is a non-negative amount of US dollars with at most 9 decimals, got \"\(text)\"")
    }
    return amount
}

func openDatabase() async throws -> PostgresPool {
    let env = try Environment.load()
    return try await DatabaseSettings(reader: env.reader).connectedPool(applicationName: "chorus-cli", logger: env.logger, poolSize: 1)
}
