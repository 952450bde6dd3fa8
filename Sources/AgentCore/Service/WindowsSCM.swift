/// The Windows Service Control Manager entry for the agent: the `sc.exe` commands that
/// create it (automatic start) and set its failure actions (restart after 5 s, 5 s, 60 s;
/// counter reset daily), the role kardianos/service played for the seed's Go agent.
public enum WindowsService {
    public static let serviceName = "FleetAgent"

    public static func createCommands(binary: String, config: String) -> [[String]] {
        [
            ["sc.exe", "create", serviceName, "binPath=", "\"\(binary)\" run --config \"\(config)\"", "start=", "auto",
             "DisplayName=", "Fleet monitor agent"],
            ["sc.exe", "description", serviceName, "Reports this host's health and metrics to the fleet master."],
            ["sc.exe", "failure", serviceName, "reset=", "86400", "actions=", "restart/5000/restart/5000/restart/60000"],
            ["sc.exe", "failureflag", serviceName, "1"],
        ]
    }

    public static func removeCommands() -> [[String]] {
        [["sc.exe", "stop", serviceName], ["sc.exe", "delete", serviceName]]
    }

    public static func controlCommand(_ verb: String) -> [String] {
        switch verb {
        case "status": ["sc.exe", "query", serviceName]
        default: ["sc.exe", verb, serviceName]
        }
    }
}
