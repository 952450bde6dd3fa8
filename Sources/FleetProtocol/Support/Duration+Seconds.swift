extension Duration {
    /// The duration as fractional seconds, for configuration values and JSON fields.
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
