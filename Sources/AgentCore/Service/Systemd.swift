/// The systemd unit for the agent (Linux). `Restart=always` so it comes back from any exit;
/// hardening that still lets the agent read /proc, stat every filesystem, write its own
/// state and log directories, and run allow-listed commands.
public enum SystemdUnit {
    public static func render(_ layout: ServiceLayout) -> String {
        """
        # Installed by `\(layout.name) install`; remove with `\(layout.name) uninstall`.
        [Unit]
        Description=Fleet monitor agent
        Documentation=https://example.invalid/fleet/docs
        After=network-online.target
        Wants=network-online.target
        StartLimitIntervalSec=0

        [Service]
        Type=simple
        ExecStart=\(layout.binaryPath) run --config \(layout.configPath)
        Restart=always
        RestartSec=5
        # Its own directories, created by systemd with the right owner and mode.
        StateDirectory=\(layout.name)
        StateDirectoryMode=0700
        LogsDirectory=\(layout.name)
        ConfigurationDirectory=\(layout.name)
        # Hardening: read-only system, private /tmp, no privilege gain; writes only where the agent keeps state.
        NoNewPrivileges=true
        ProtectSystem=strict
        ProtectHome=read-only
        PrivateTmp=true
        PrivateDevices=true
        ProtectKernelTunables=true
        ProtectKernelModules=true
        ProtectControlGroups=true
        RestrictSUIDSGID=true
        RestrictRealtime=true
        LockPersonality=true
        ReadWritePaths=\(layout.statePath) \(layout.logPath)
        UMask=0077

        [Install]
        WantedBy=multi-user.target

        """
    }
}
