#!/usr/bin/env python3
"""Agent footprint next to prometheus-node-exporter, measured the same way in one run.

Both collect once a second for DURATION seconds after a warm-up: the agent takes a snapshot and
sends it as a heartbeat to a local `master serve`; node-exporter is scraped once a second.
Reported per process: steady RSS and PSS (from /proc/PID/status and smaps_rollup, sampled every
second; the median and the maximum) and CPU time per collection cycle (utime + stime from
/proc/PID/stat over the window, divided by the cycles in it).

    python3 bench/footprint.py --agent .build/release/agent --master .build/debug/master [--duration 60]

Needs: the built binaries and Debian's prometheus-node-exporter (`apt-get install prometheus-node-exporter`).
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid):
    rss = pss = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ  # utime, stime


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def measure(pid, duration, tick=None):
    """Samples memory every second for `duration` s; returns memory stats and CPU per second."""
    rss, pss = [], []
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    cycles = 0
    while time.monotonic() - start < duration:
        if tick:
            tick()
            cycles += 1
        r, p = memory(pid)
        rss.append(r)
        if p:
            pss.append(p)
        time.sleep(max(0, 1 - ((time.monotonic() - start) % 1)))
    elapsed = time.monotonic() - start
    used = cpu_seconds(pid) - start_cpu
    return {
        "rss_median_mb": statistics.median(rss) / 1e6, "rss_max_mb": max(rss) / 1e6,
        "pss_median_mb": statistics.median(pss) / 1e6 if pss else None,
        "cpu_seconds": used, "elapsed": elapsed, "cycles": cycles or round(elapsed), "threads": threads(pid),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", default=".build/release/agent")
    parser.add_argument("--master", default=".build/debug/master")
    parser.add_argument("--node-exporter", default=shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="fleet-footprint-")
    procs = []
    try:
        port = free_port()
        master = subprocess.Popen([args.master, "serve", "--set", f"server.port={port}", "--set", "server.host=127.0.0.1",
                                   "--set", f"data_dir={work}/master", "--set", "logging.level=warning"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(master)
        token_file = f"{work}/master/agent-token"
        for _ in range(200):
            if os.path.exists(token_file):
                break
            time.sleep(0.05)
        time.sleep(0.5)
        env = dict(os.environ, FLEET_AGENT_MASTER_TOKEN=open(token_file).read().strip())
        agent = subprocess.Popen([args.agent, "run", "--set", f"master.url=ws://127.0.0.1:{port}/ws",
                                  "--set", f"master.api_url=http://127.0.0.1:{port}/api", "--set", "metrics.interval=1",
                                  "--set", f"agent.state_dir={work}/agent", "--set", f"logging.dir={work}/agent/logs",
                                  "--set", "logging.level=warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(agent)

        ne_port = free_port()
        exporter = subprocess.Popen([args.node_exporter, f"--web.listen-address=127.0.0.1:{ne_port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(exporter)

        def scrape():
            with urllib.request.urlopen(f"http://127.0.0.1:{ne_port}/metrics", timeout=5) as response:
                response.read()

        time.sleep(args.warmup)
        scrape()
        results = {"agent": measure(agent.pid, args.duration), "node_exporter": measure(exporter.pid, args.duration, tick=scrape)}
        for name, r in results.items():
            r["cpu_ms_per_cycle"] = 1000 * r["cpu_seconds"] / r["cycles"]
        version = subprocess.run([args.node_exporter, "--version"], capture_output=True, text=True)
        results["node_exporter_version"] = (version.stdout or version.stderr).split("\n")[0]
        results["duration_s"] = args.duration
        print("| process | RSS median (max) | PSS median | CPU per collection cycle | threads |")
        print("|---|---|---|---|---|")
        for name in ("agent", "node_exporter"):
            r = results[name]
            pss = f"{r['pss_median_mb']:.1f} MB" if r["pss_median_mb"] else "-"
            print(f"| {name} | {r['rss_median_mb']:.1f} MB ({r['rss_max_mb']:.1f}) | {pss} | {r['cpu_ms_per_cycle']:.2f} ms | {r['threads']} |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
