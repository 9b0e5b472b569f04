import ArgumentParser
import Foundation
import Logging
import WebhookDaemon
import WebhookStorage
import WebhookStores

let qr3WebhookdVersionString = qr3WebhookdVersion

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The SQLite database file (default: $QR3_WEBHOOKD_DATABASE, else qr3-webhookd.sqlite).",
            valueName: "path"
        )
    )
    var database: String?

    /// The database path: the flag, else the environment, else the configuration file named by
    /// `QR3_WEBHOOKD_CONFIG`, else the default.
    var databasePath: String {
        if let database { return database }
        let environment = ProcessInfo.processInfo.environment
        if let fromEnvironment = environment["QR3_WEBHOOKD_DATABASE"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        if let file = environment["QR3_WEBHOOKD_CONFIG"],
            let text = try? String(contentsOfFile: file, encoding: .utf8)
        {
            var configuration = DaemonConfiguration()
            if (try? configuration.apply(file: text, path: file)) != nil { return configuration.databasePath }
        }
        return DaemonConfiguration.defaultDatabasePath
    }

    /// The database ``databasePath`` names: a file, or a server.
    var location: DatabaseLocation {
        get throws {
            do {
                return try DatabaseLocation(parsing: databasePath)
            } catch {
                throw ValidationError("\(error)")
            }
        }
    }

    /// Opens (and migrates) the database, turning failures into a clear error.
    ///
    /// Only commands that add something (`migrate`, `webhooks create`, `api-keys create`, `emit`)
    /// pass `creating`: any other command on a path where no database file is refuses, naming the
    /// path, instead of creating an empty database there and reporting that it holds nothing.
    func openStore(creating: Bool = false) async throws -> any WebhookStore {
        LoggingSystem.bootstrapOnce(level: .warning)
        let location = try location
        if !creating, let path = location.filePath, !FileManager.default.fileExists(atPath: path) {
            throw ValidationError(
                """
                no database at \(path): check --database (or QR3_WEBHOOKD_DATABASE); \
                `qr3-webhookd migrate` or `qr3-webhookd run` creates one
                """)
        }
        do {
            return try await WebhookStores.open(location, logger: Logger(label: "qr3-webhookd"))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

extension LoggingSystem {
    private static let bootstrapped = BootstrapFlag()

    /// Installs the log handler once per process: the journal's native protocol under systemd,
    /// else lines on standard error (see `DaemonLogging`).
    static func bootstrapOnce(level: Logger.Level) {
        guard bootstrapped.claim() else { return }
        LoggingSystem.bootstrap(
            DaemonLogging.handlerFactory(level: level, environment: ProcessInfo.processInfo.environment)
        )
    }
}

import Synchronization

/// A flag that can be claimed once.
final class BootstrapFlag: Sendable {
    private let claimed = Atomic<Bool>(false)

    func claim() -> Bool {
        !claimed.exchange(true, ordering: .relaxed)
    }
}

/// A failure of a command, printed as `Error: <message>` with a non-zero exit.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
