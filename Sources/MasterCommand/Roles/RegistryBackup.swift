import ArgumentParser
import Foundation
import Registry

/// `master registry backup PATH`: a consistent copy of the registry's store, taken while the
/// registry runs (`VACUUM INTO` from a connection of its own; WAL mode lets it read beside
/// the registry's writes). Reads the same config as `master registry` to find the store.
struct RegistryBackup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the registry's SQLite store to PATH (safe while the registry runs).",
        discussion: """
            The store is `store.path`, or `<data_dir>/registry.sqlite`. PATH must not exist: a \
            backup never overwrites; it is created 0600 (the store holds credential digests). \
            To restore, stop the registry, put the copy in place of the store file (removing \
            any -wal and -shm beside it), and start the registry.
            """
    )

    @OptionGroup var options: CommonOptions

    @Argument(help: "Where to write the copy (must not exist).")
    var path: String

    func run() throws {
        let config = try options.loadConfig()
        guard config.store.enabled else {
            FileHandle.standardError.write(Data("master: store.enabled is false: this registry keeps no store to back up\n".utf8))
            throw ExitCode(1)
        }
        let store = RoleSupport.storePath(config)
        do {
            try RegistryStore.backup(storeAt: store, to: path)
        } catch {
            FileHandle.standardError.write(Data("master: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        print("backed up \(store) to \(path) (\(size) bytes)")
    }
}
