import ChorusRuntime
import Testing

@testable import Dispatcher

/// `reconciler.*` settings: defaults, the file, the environment over the file, clear errors.
@Suite struct ReconcilerSettingsTests {
    @Test func defaultsFileAndEnvironment() throws {
        let defaults = try ReconcilerSettings(reader: ConfigurationReader(yaml: "{}"))
        #expect(defaults.interval == .seconds(5) && defaults.grace == .seconds(30))
        #expect(defaults.maxResumes == 3 && defaults.batch == 100)

        let yaml = "reconciler: {interval: 250ms, grace: 2m, max_resumes: 5, batch: 10}"
        let file = try ReconcilerSettings(reader: ConfigurationReader(yaml: yaml))
        #expect(file.interval == .milliseconds(250) && file.grace == .seconds(120))
        #expect(file.maxResumes == 5 && file.batch == 10)

        let overridden = try ReconcilerSettings(
            reader: ConfigurationReader(yaml: yaml, environment: ["CHORUS_RECONCILER_GRACE": "1s", "CHORUS_RECONCILER_MAX_RESUMES": "0"]))
        #expect(overridden.grace == .seconds(1) && overridden.maxResumes == 0)
    }

    @Test func aBadValueNamesTheSetting() {
        #expect(throws: ConfigurationError.self) {
            try ReconcilerSettings(reader: ConfigurationReader(yaml: "reconciler: {interval: soon}"))
        }
        do {
            _ = try ReconcilerSettings(reader: ConfigurationReader(yaml: "{}", environment: ["CHORUS_RECONCILER_BATCH": "0"]))
            Issue.record("batch 0 was accepted")
        } catch {
            #expect("\(error)".contains("CHORUS_RECONCILER_BATCH"))
        }
    }
}
