import ArgumentParser

/// `master`: the fleet monitor's server side. One binary, one subcommand per role.
@main
struct Master: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master",
        abstract: "Fleet monitor master: gateway, registry and callback-worker roles linked by ZeroMQ.",
        discussion: """
            `master serve` runs all roles in one process (the default). `master registry`, \
            `master gateway` and `master worker` run one role each over tcp:// so they can be \
            scaled and placed separately. `master demo` starts a master and one local agent. \
            `agents`, `status`, `logs`, `exec`, `config`, `requests`, `tokens` and `audit` talk to a running master \
            (--url/FLEET_URL, --token/FLEET_TOKEN, --json for scripts).
            """,
        subcommands: [
            Serve.self, RegistryCommand.self, GatewayCommand.self, WorkerCommand.self, Demo.self, KeysCommand.self,
            AgentsCommand.self, StatusCommand.self, LogsCommand.self, ExecCommand.self, ConfigCommand.self, RequestsCommand.self,
            TokensCommand.self, AuditCommand.self, CertsCommand.self, ProbeCommand.self,
        ]
    )
}
