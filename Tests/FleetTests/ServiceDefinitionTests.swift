import AgentCore
import Foundation
import Testing

@Suite("Service definitions")
struct ServiceDefinitionTests {
    @Test("systemd unit: ExecStart with binary and config, always restarted, hardened but able to write its own dirs")
    func systemd() {
        let unit = SystemdUnit.render(ServiceLayout(name: "fleet-agent"))
        #expect(unit.contains("ExecStart=/usr/local/bin/fleet-agent run --config /etc/fleet-agent/agent.yaml\n"))
        #expect(unit.contains("Restart=always\n"))
        #expect(unit.contains("StateDirectory=fleet-agent\n") && unit.contains("LogsDirectory=fleet-agent\n"))
        #expect(unit.contains("ProtectSystem=strict\n") && unit.contains("NoNewPrivileges=true\n"))
        #expect(unit.contains("ReadWritePaths=/var/lib/fleet-agent /var/log/fleet-agent\n"))
        #expect(unit.contains("WantedBy=multi-user.target\n"))
        // Every line is a section, a comment, blank, or key=value.
        for line in unit.split(separator: "\n") {
            #expect(line.hasPrefix("[") || line.hasPrefix("#") || line.contains("="), "\(line)")
        }
    }

    @Test("launchd plist: KeepAlive, RunAtLoad, program arguments, valid XML")
    func launchd() throws {
        let plist = LaunchdPlist.render(label: "com.fleet.fleet-agent", binary: "/usr/local/bin/fleet-agent", config: "/etc/fleet-agent/a&b.yaml", logDir: "/var/log/fleet-agent")
        #expect(plist.contains("<key>KeepAlive</key>\n    <true/>"))
        #expect(plist.contains("<key>RunAtLoad</key>\n    <true/>"))
        #expect(plist.contains("<string>/usr/local/bin/fleet-agent</string>\n        <string>run</string>\n        <string>--config</string>"))
        #expect(plist.contains("a&amp;b.yaml"), "XML-escaped")
        let decoded = try PropertyListSerialization.propertyList(from: Data(plist.utf8), format: nil) as? [String: Any]
        #expect(decoded?["Label"] as? String == "com.fleet.fleet-agent")
        #expect((decoded?["ProgramArguments"] as? [String])?.count == 4)
    }

    @Test("Windows SCM: automatic start and restart failure actions")
    func windows() {
        let commands = WindowsService.createCommands(binary: #"C:\Program Files\FleetAgent\fleet-agent.exe"#, config: #"C:\ProgramData\FleetAgent\agent.yaml"#)
        let create = commands[0]
        #expect(create.prefix(3) == ["sc.exe", "create", "FleetAgent"])
        #expect(create.contains(#""C:\Program Files\FleetAgent\fleet-agent.exe" run --config "C:\ProgramData\FleetAgent\agent.yaml""#))
        #expect(create.contains("auto"))
        #expect(commands.contains { $0.contains("restart/5000/restart/5000/restart/60000") })
        #expect(WindowsService.removeCommands().last == ["sc.exe", "delete", "FleetAgent"])
    }
}
