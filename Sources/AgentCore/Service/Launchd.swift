/// The launchd daemon definition for the agent (macOS): `KeepAlive` restarts it on any exit.
public enum LaunchdPlist {
    public static func render(label: String, binary: String, config: String, logDir: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
        <plist version="1.0">
        <dict>
            <key>Label</key>
            <string>\(escape(label))</string>
            <key>ProgramArguments</key>
            <array>
                <string>\(escape(binary))</string>
                <string>run</string>
                <string>--config</string>
                <string>\(escape(config))</string>
            </array>
            <key>RunAtLoad</key>
            <true/>
            <key>KeepAlive</key>
            <true/>
            <key>ThrottleInterval</key>
            <integer>5</integer>
            <key>StandardErrorPath</key>
            <string>\(escape(logDir))/stderr.log</string>
            <key>Umask</key>
            <integer>63</integer>
        </dict>
        </plist>

        """
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
