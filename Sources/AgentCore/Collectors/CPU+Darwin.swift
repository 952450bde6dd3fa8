#if os(macOS)
import Darwin

// macOS collectors are written against the APIs in STACK.md but are not compiled or run on
// this project's Linux CI; treat them as untested until a macOS build runs them.

extension CPUStat {
    /// Per-core tick counters from host_processor_info (PROCESSOR_CPU_LOAD_INFO).
    public static func readDarwin() -> CPUStat? {
        var count: natural_t = 0
        var info: processor_info_array_t?
        var infoCount: mach_msg_type_number_t = 0
        guard host_processor_info(mach_host_self(), PROCESSOR_CPU_LOAD_INFO, &count, &info, &infoCount) == KERN_SUCCESS,
            let info
        else { return nil }
        defer {
            vm_deallocate(mach_task_self_, vm_address_t(bitPattern: info), vm_size_t(Int(infoCount) * MemoryLayout<integer_t>.stride))
        }
        var cores: [CPUTimes] = []
        for cpu in 0..<Int(count) {
            let base = cpu * Int(CPU_STATE_MAX)
            func ticks(_ state: Int32) -> UInt64 { UInt64(UInt32(bitPattern: info[base + Int(state)])) }
            cores.append(CPUTimes(
                user: ticks(CPU_STATE_USER), nice: ticks(CPU_STATE_NICE), system: ticks(CPU_STATE_SYSTEM), idle: ticks(CPU_STATE_IDLE)
            ))
        }
        let total = cores.reduce(CPUTimes()) {
            CPUTimes(user: $0.user + $1.user, nice: $0.nice + $1.nice, system: $0.system + $1.system, idle: $0.idle + $1.idle)
        }
        return CPUStat(total: total, cores: cores)
    }
}

extension LoadAverage {
    public static func readDarwin() -> (Double, Double, Double)? {
        var loads = [Double](repeating: 0, count: 3)
        guard getloadavg(&loads, 3) == 3 else { return nil }
        return (loads[0], loads[1], loads[2])
    }
}
#endif
