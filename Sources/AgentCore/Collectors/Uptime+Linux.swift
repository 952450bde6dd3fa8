/// Seconds since boot from /proc/uptime (`350735.47 234388.90`).
public enum Uptime {
    public static func parse(_ text: String) -> Double? {
        text.split(separator: " ").first.flatMap { Double($0.trimmingCharacters(in: "\n")) }
    }

    public static func read() -> Double? {
        TextFile.read("/proc/uptime").flatMap(parse)
    }
}
