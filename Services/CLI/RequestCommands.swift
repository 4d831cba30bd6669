import ArgumentParser
import ChorusRuntime
import Foundation
import Postgres

struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request", abstract: "Inspect stored requests.", subcommands: [Show.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a request's stored trail: prompt, calls and responses, verdict, answer, usage.")

        @Argument(help: "The request id.") var id: String

        func run() async {
            await guarded {
                let env = try Environment.load()
                let db = try await DatabaseSettings(reader: env.reader).connectedPool(
                    applicationName: "chorus-cli", logger: env.logger, poolSize: 1)
                defer { Task { await db.close() } }
                guard let request = try await db.query("""
                    SELECT project_id, mode, array_to_string(pool, ', '), coalesce(judge, '-'), messages::text, accepted_at::text
                    FROM requests WHERE id = \(id)
                    """).first
                else {
                    if let answer = try await db.query("SELECT status, coalesce(error_message, '') FROM answers WHERE request_id = \(id)").first {
                        let (status, message) = try answer.decode((String, String).self)
                        print("request \(id): \(status) before it was recorded: \(message)")
                        return
                    }
                    throw ValidationError("no request \(id)")
                }
                let (project, mode, pool, judge, messages, accepted) = try request.decode((String, String, String, String, String, String).self)
                print("request   \(id)\nproject   \(project)\nmode      \(mode)\npool      \(pool)\njudge     \(judge)\naccepted  \(accepted)\nmessages  \(messages)\n")
                print("calls")
                for row in try await db.query("""
                    SELECT c.id, c.model, coalesce(r.provider, '-'), coalesce(r.latency_ms::text, '-'),
                           coalesce(r.prompt_tokens || '+' || r.completion_tokens, '-'),
                           coalesce(r.content, 'error ' || r.error_code || ': ' || r.error_message, '(no response)')
                    FROM calls c LEFT JOIN responses r ON r.call_id = c.id WHERE c.request_id = \(id) ORDER BY c.dispatched_at, c.id
                    """) {
                    let (call, model, provider, latency, tokens, content) = try row.decode((String, String, String, String, String, String).self)
                    print("  \(call)  \(model) via \(provider)  \(latency) ms  \(tokens) tokens\n    \(content.replacingOccurrences(of: "\n", with: " ").prefix(200))")
                }
                if let j = try await db.query("SELECT method, coalesce(chosen::text, '-'), coalesce(rationale, '') FROM judgments WHERE request_id = \(id)").first {
                    let (method, chosen, rationale) = try j.decode((String, String, String).self)
                    print("\nverdict   \(method), chose \(chosen): \(rationale)")
                }
                if let a = try await db.query("SELECT status, coalesce(answer, error_message, ''), latency_ms FROM answers WHERE request_id = \(id)").first {
                    let (status, text, latency) = try a.decode((String, String, Int64).self)
                    print("answer    \(status), \(latency) ms\n  \(text.replacingOccurrences(of: "\n", with: " ").prefix(400))")
                } else {
                    print("answer    (none yet)")
                }
                let usage = try await db.query("""
                    SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)
                    FROM usage_events WHERE request_id = \(id)
                    """).first!
                let (events, prompt, completion) = try usage.decode((Int, Int, Int).self)
                print("usage     \(events) events, \(prompt) prompt + \(completion) completion tokens")
                await db.close()
            }
        }
    }
}
