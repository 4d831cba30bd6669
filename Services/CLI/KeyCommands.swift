import ArgumentParser
import ChorusRuntime
import Trail

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "API keys for the HTTP front door.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; it is printed once, alone on the last line.")
        @Option(help: "The project the key spends for.") var project: String
        @Option(help: "A note to recognize the key by.") var label: String?

        func run() async {
            await guarded {
                let db = try await openDatabase()
                let exists = try await db.query("SELECT count(*) FROM projects WHERE id = \(project)").first!.decode(Int.self, at: 0)
                guard exists == 1 else { throw ValidationError("no project \(project) (create it with chorus project create)") }
                let created = try await APIKeys(database: db).create(project: project, label: label)
                await db.close()
                print("chorus: key \(created.keyID) for project \(project); it is shown once, store it now:")
                print(created.key)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Key ids, projects and state (never the keys).")
        @Option var project: String?

        func run() async {
            await guarded {
                let db = try await openDatabase()
                let keys = try await APIKeys(database: db).list(project: project)
                await db.close()
                for key in keys {
                    print("\(key.keyID)  \(key.project)  \(key.revoked ? "revoked" : "active")  \(key.createdAt)  \(key.label ?? "")")
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by its id.")
        @Argument var keyID: String

        func run() async {
            await guarded {
                let db = try await openDatabase()
                let revoked = try await APIKeys(database: db).revoke(keyID: keyID)
                await db.close()
                guard revoked else { throw ValidationError("no active key \(keyID)") }
                print("chorus: key \(keyID) revoked")
            }
        }
    }
}
