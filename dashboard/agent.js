// One agent (#/agents/<id>): facts, live charts (history + stream), and the requests an
// operator makes: status now, fetch a log, run an allowed command.

import * as api from "./api.js";
import { h, replace, setText } from "./dom.js";
import { lineChart, bar, niceBytesMax } from "./charts.js";
import * as format from "./format.js";
import { fleet, subscribe, ensureHistory, MAX_POINTS } from "./store.js";

/** Splits a command line into argv: whitespace separates, quotes group, backslash escapes. */
export function splitArgs(text) {
  const args = [];
  let current = null;
  let quote = null;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      current = current ?? "";
    } else if (c === "\\" && i + 1 < text.length) {
      current = (current ?? "") + text[++i];
    } else if (/\s/.test(c)) {
      if (current !== null) args.push(current);
      current = null;
    } else {
      current = (current ?? "") + c;
    }
  }
  if (quote) throw new Error(`unclosed ${quote}`);
  if (current !== null) args.push(current);
  return args;
}

function field(label, value, attrs = {}) {
  return [h("dt", {}, label), h("dd", attrs, value)];
}

function elapsed(record) {
  if (!record.completedAt) return "";
  return `${Math.max(0, Date.parse(record.completedAt) - Date.parse(record.createdAt))} ms`;
}

/** The line above every request's result: state, time taken, attempts, request id. */
function requestLine(record) {
  return h("p", { class: "request-line" },
    h("span", { class: `badge state-${record.state}`, dataset: { field: "request-state" } }, record.state),
    record.completedAt ? ` in ${elapsed(record)}` : "",
    record.attempts > 1 ? ` · attempt ${record.attempts}/${record.maxAttempts}` : "",
    " · request ", h("span", { class: "mono", title: record.id }, format.shortId(record.id)),
    " · ", format.clock(record.completedAt || record.createdAt));
}

/** A failed request: a refusal by the agent is said plainly, other failures with their reason. */
function failure(record) {
  const error = record.error || "failed without a reason";
  const refused = error.startsWith("refused:");
  return h("div", { class: `problem${refused ? " refused" : ""}`, role: "alert", dataset: { field: refused ? "refusal" : "error" } },
    h("strong", {}, refused ? "Refused by the agent. " : "Failed. "),
    refused ? error.slice("refused:".length).trim() : error);
}

function waiting(record) {
  const state = record.state || "pending";
  return h("p", { class: "muted waiting" }, h("span", { class: "spinner", "aria-hidden": "true" }),
    state === "pending" ? "waiting for the agent to connect…" : "waiting for the agent's answer…");
}

function statusResult(record) {
  const m = record.result || {};
  const mem = m.memory;
  const cpu = m.cpu;
  const rows = [
    ...field("Taken at", `${format.dateTime(m.timestamp)} (sample ${m.seq ?? "–"})`),
    ...field("CPU", cpu ? `${format.percent(cpu.totalPercent)} · ${(cpu.perCorePercent || []).length} cores · load ${[cpu.load1, cpu.load5, cpu.load15].map((v) => (v ?? 0).toFixed(2)).join(" ")}` : "–",
      { dataset: { field: "cpu" } }),
    ...field("Memory total", mem ? `${format.bytes(mem.totalBytes)} (${format.integer(mem.totalBytes)} bytes)` : "–",
      { dataset: { field: "memory-total", bytes: mem ? String(mem.totalBytes) : "" } }),
    ...field("Memory used", mem ? `${format.bytes(mem.usedBytes)} (${format.percent(format.memoryPercent(m))}), ${format.bytes(mem.availableBytes)} available` : "–"),
    ...field("Swap", mem && mem.swapTotalBytes ? `${format.bytes(mem.swapTotalBytes - mem.swapFreeBytes)} of ${format.bytes(mem.swapTotalBytes)}` : "none"),
    ...field("Disks", (m.filesystems || []).map((fs) => `${fs.mountPoint} ${format.percent(fs.usedPercent)} of ${format.bytes(fs.totalBytes)}`).join(", ") || "–"),
    ...field("Network", (m.network || []).filter((n) => n.name !== "lo").map((n) => `${n.name} ↓${format.rate(n.rxBytesPerSecond)} ↑${format.rate(n.txBytesPerSecond)}`).join(", ") || "–"),
    ...field("Uptime", `${format.duration(m.uptimeSeconds)} (booted ${format.dateTime(m.bootTime)})`),
    ...field("Agent RSS", format.bytes(m.agentRSSBytes)),
  ];
  return h("dl", { class: "facts compact" }, rows);
}

function execResult(record) {
  const r = record.result || {};
  const ok = r.exitCode === 0 && !r.timedOut;
  const flags = [r.timedOut ? "timed out" : null, r.signal ? `signal ${r.signal}` : null, r.truncated ? "output truncated" : null].filter(Boolean);
  return h("div", { class: "exec-result" },
    h("p", { class: "exit" },
      h("span", { class: `badge ${ok ? "state-completed" : "state-failed"}`, dataset: { field: "exit-code" } }, `exit ${r.exitCode ?? "–"}`),
      ` after ${format.seconds(r.durationSeconds)}`, flags.length ? ` · ${flags.join(" · ")}` : ""),
    h("div", { class: "stream-label" }, "stdout"),
    h("pre", { class: "output", dataset: { field: "stdout" } }, r.stdout || ""),
    h("div", { class: "stream-label" }, "stderr"),
    h("pre", { class: "output stderr", dataset: { field: "stderr" } }, r.stderr || ""));
}

/** A button that runs `action(signal)` and shows its outcome in `out`; one run at a time. */
function runner(button, out, action) {
  let controller = null;
  const run = async () => {
    if (controller) return;
    controller = new AbortController();
    button.disabled = true;
    replace(out, waiting({ state: "pending" }));
    try {
      await action(controller.signal, (record) => replace(out, waiting(record)));
    } catch (error) {
      if (!controller.signal.aborted && !(error instanceof api.AuthError)) {
        replace(out, h("div", { class: "problem", role: "alert", dataset: { field: "error" } }, h("strong", {}, "Could not ask. "), error.message));
      }
    } finally {
      controller = null;
      button.disabled = false;
    }
  };
  return { run, abort: () => controller && controller.abort() };
}

export function renderAgent(view, id) {
  const title = h("h1", {});
  const stateBadge = h("span", { class: "badge" });
  const subtitle = h("p", { class: "muted subtitle" });
  const facts = h("dl", { class: "facts" });
  const disks = h("div", { class: "disk-list" });
  const nics = h("table", { class: "small-table" });
  const nicsBox = h("div", { class: "table-wrap" }, nics);
  const charts = {
    cpu: h("div", { class: "chart-box" }),
    mem: h("div", { class: "chart-box" }),
    disk: h("div", { class: "chart-box" }),
    net: h("div", { class: "chart-box" }),
  };
  const chartValue = { cpu: h("span", { class: "now" }), mem: h("span", { class: "now" }), disk: h("span", { class: "now" }), net: h("span", { class: "now" }) };
  const missing = h("div", { class: "problem", hidden: true });

  // Status now
  const statusButton = h("button", { type: "button", class: "primary", id: "status-now" }, "Status now");
  const statusOut = h("div", { class: "result", id: "status-result", "aria-live": "polite" });
  const status = runner(statusButton, statusOut, async (signal, progress) => {
    const record = await api.callback(id, "status", {}, { wait: 30, signal, progress });
    replace(statusOut, requestLine(record), record.state === "completed" ? statusResult(record) : failure(record));
  });
  statusButton.addEventListener("click", status.run);

  // Logs
  const logFile = h("input", { type: "text", value: "agent.log", "aria-label": "Log file name", spellcheck: "false", class: "file" });
  const logTail = h("input", { type: "number", value: "65536", min: "1", step: "1024", "aria-label": "Last bytes", class: "tail" });
  const logButton = h("button", { type: "button", id: "fetch-log" }, "Fetch log");
  const logOut = h("div", { class: "result", id: "log-result", "aria-live": "polite" });
  let logURL = null;
  const logs = runner(logButton, logOut, async (signal, progress) => {
    const args = { file: logFile.value.trim() || "agent.log" };
    const tail = Number(logTail.value);
    if (tail > 0) args.tail = tail;
    const record = await api.callback(id, "logs", args, { wait: 60, signal, progress });
    if (record.state !== "completed") {
      replace(logOut, requestLine(record), failure(record));
      return;
    }
    const blob = await api.requestContent(record.id, signal);
    if (logURL) URL.revokeObjectURL(logURL);
    logURL = URL.createObjectURL(blob);
    const name = (record.result && record.result.name) || args.file;
    const limit = 512 * 1024;
    const text = await blob.slice(Math.max(0, blob.size - limit)).text();
    replace(logOut, requestLine(record),
      h("p", { class: "log-meta" }, `${name} · ${format.bytes(blob.size)}`, blob.size > limit ? " (the view shows the last 512 KiB)" : "", " · ",
        h("a", { href: logURL, download: `${format.shortId(id).replace("…", "")}-${name}`, class: "download" }, "Download")),
      h("pre", { class: "output log", dataset: { field: "log" } }, text));
    // The end of a log is the news.
    const view = logOut.querySelector("pre.log");
    view.scrollTop = view.scrollHeight;
  });
  logButton.addEventListener("click", logs.run);

  // Exec
  const argvInput = h("input", { type: "text", placeholder: "uptime -p", "aria-label": "Command and arguments", spellcheck: "false", class: "argv" });
  const execButton = h("button", { type: "button", id: "run-exec" }, "Run");
  const execOut = h("div", { class: "result", id: "exec-result", "aria-live": "polite" });
  const exec = runner(execButton, execOut, async (signal, progress) => {
    const argv = splitArgs(argvInput.value);
    if (argv.length === 0) throw new Error("type a command first, e.g. uptime -p");
    const record = await api.callback(id, "exec", { argv }, { wait: 60, signal, progress });
    replace(execOut, requestLine(record), record.state === "completed" ? execResult(record) : failure(record));
  });
  execButton.addEventListener("click", exec.run);
  argvInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") exec.run();
  });
  logFile.addEventListener("keydown", (event) => {
    if (event.key === "Enter") logs.run();
  });

  const chartCard = (key, name) => h("section", { class: "card chart-card" },
    h("div", { class: "card-head" }, h("h2", {}, name), chartValue[key]), charts[key]);

  replace(view,
    h("div", { class: "page-head agent-head" },
      h("div", {}, h("a", { href: "#/", class: "back" }, "← Fleet"), h("div", { class: "title-row" }, title, stateBadge), subtitle)),
    missing,
    h("div", { class: "charts" },
      chartCard("cpu", "CPU"),
      chartCard("mem", "Memory"),
      chartCard("disk", "Disks"),
      chartCard("net", "Network")),
    h("div", { class: "agent-grid" },
      h("section", { class: "card info" }, h("h2", {}, "Agent"), facts),
      h("section", { class: "card actions" },
        h("h2", {}, "Ask the agent"),
        h("div", { class: "action" }, h("div", { class: "action-row" }, statusButton, h("span", { class: "muted" }, "metrics collected now")), statusOut),
        h("div", { class: "action" }, h("div", { class: "action-row" }, logFile, logTail, h("span", { class: "muted small" }, "bytes"), logButton), logOut),
        h("div", { class: "action" }, h("div", { class: "action-row" }, argvInput, execButton), h("p", { class: "muted small hint" }, "Runs without a shell; only commands on the agent's exec.allow list."), execOut))),
    h("div", { class: "agent-grid details" },
      h("section", { class: "card" }, h("h2", {}, "Filesystems"), disks),
      h("section", { class: "card" }, h("h2", {}, "Network interfaces"), nicsBox)));

  // Facts are updated in place (a selection, e.g. of the id, survives the next heartbeat).
  const factCells = new Map();
  function fact(name, label, value, attrs = {}) {
    let cell = factCells.get(name);
    if (!cell) {
      cell = { dt: h("dt", {}), dd: h("dd", attrs) };
      factCells.set(name, cell);
      facts.append(cell.dt, cell.dd);
    }
    setText(cell.dt, label);
    if (typeof value === "string") {
      setText(cell.dd, value);
    } else {
      const key = JSON.stringify(value.key);
      if (cell.dd.dataset.key !== key) {
        cell.dd.dataset.key = key;
        replace(cell.dd, value.nodes());
      }
    }
  }

  function renderFacts(agent) {
    const m = agent.metrics || {};
    const cores = m.cpu && m.cpu.perCorePercent ? m.cpu.perCorePercent.length : null;
    const labels = Object.entries(agent.labels || {}).sort();
    fact("host", "Host", agent.hostname, { dataset: { field: "hostname" } });
    fact("id", "Agent id", agent.id, { class: "mono" });
    fact("os", "OS", `${agent.os.name} ${agent.os.version}`);
    fact("kernel", "Kernel", `${agent.os.kernel} · ${agent.os.arch}${cores ? ` · ${cores} cores` : ""}`);
    fact("version", "Agent version", agent.agentVersion);
    fact("labels", "Labels", {
      key: labels,
      nodes: () => (labels.length ? labels.map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`)) : h("span", { class: "muted" }, "none")),
    });
    fact("state", "State", `${agent.state}${agent.stateReason ? ` — ${agent.stateReason}` : ""}`);
    fact("gateway", "Gateway", agent.gatewayId || "–");
    fact("connected", agent.state === "online" ? "Connected" : "Disconnected",
      agent.state === "online" ? `${format.dateTime(agent.connectedAt)} (${format.ago(agent.connectedAt)})` : format.dateTime(agent.disconnectedAt));
    fact("lastSeen", "Last seen", `${format.dateTime(agent.lastSeen)} (${format.ago(agent.lastSeen)})`);
    fact("firstSeen", "First seen", format.dateTime(agent.firstSeen));
    fact("uptime", "Uptime", m.uptimeSeconds ? format.duration(m.uptimeSeconds) : "–");
    fact("load", "Load", m.cpu ? [m.cpu.load1, m.cpu.load5, m.cpu.load15].map((v) => (v ?? 0).toFixed(2)).join("  ") : "–");
  }


  function renderCharts(agent) {
    const series = fleet.series.get(id) || [];
    const m = agent.metrics || {};
    const size = { width: Math.max(160, charts.cpu.clientWidth || 230), height: 110 };
    replace(charts.cpu, lineChart([{ kind: "cpu", points: series.map((p) => ({ t: p.t, v: p.cpu })) }],
      { ...size, max: 100, format: (v) => `${v.toFixed(0)}%`, label: "CPU percent over time" }));
    setText(chartValue.cpu, m.cpu ? format.percent(m.cpu.totalPercent) : "");
    replace(charts.mem, lineChart([{ kind: "mem", points: series.map((p) => ({ t: p.t, v: p.mem })) }],
      { ...size, max: 100, format: (v) => `${v.toFixed(0)}%`, label: "memory used percent over time" }));
    setText(chartValue.mem, m.memory ? `${format.percent(format.memoryPercent(m))} of ${format.bytes(m.memory.totalBytes)}` : "");

    const mounts = [...new Set(series.flatMap((p) => p.disks.map((d) => d.mount)))].slice(0, 6);
    replace(charts.disk, lineChart(mounts.map((mount, index) => ({
      kind: `d${index}`, points: series.map((p) => ({ t: p.t, v: (p.disks.find((d) => d.mount === mount) || {}).pct ?? null })),
    })), { ...size, max: 100, format: (v) => `${v.toFixed(0)}%`, label: "disk used percent over time" }));
    const fullest = format.fullestDisk(m);
    setText(chartValue.disk, fullest ? `${fullest.mountPoint} ${format.percent(fullest.usedPercent)}` : "");
    replace(disks, (m.filesystems || []).map((fs) => {
      const index = mounts.indexOf(fs.mountPoint);
      return h("div", { class: "disk-row" },
        h("span", { class: `swatch series-d${index < 0 ? "x" : index}` }),
        h("span", { class: "mono mount", title: `${fs.device} (${fs.fsType})` }, fs.mountPoint),
        bar(fs.usedPercent, { width: 90, height: 7 }),
        h("span", { class: "num" }, format.percent(fs.usedPercent)),
        h("span", { class: "muted num" }, `${format.bytes(fs.totalBytes - fs.freeBytes)} of ${format.bytes(fs.totalBytes)}`));
    }));

    const net = [
      { kind: "rx", points: series.map((p) => ({ t: p.t, v: p.rx })) },
      { kind: "tx", points: series.map((p) => ({ t: p.t, v: p.tx })) },
    ];
    replace(charts.net, lineChart(net, { ...size, padLeft: 58, fit: niceBytesMax, format: (v) => format.rate(v), label: "network bytes per second over time (all interfaces but lo)" }));
    const nets = (m.network || []);
    const rx = nets.filter((n) => n.name !== "lo").reduce((t, n) => t + (n.rxBytesPerSecond || 0), 0);
    const tx = nets.filter((n) => n.name !== "lo").reduce((t, n) => t + (n.txBytesPerSecond || 0), 0);
    replace(chartValue.net, h("span", { class: "fg-rx", title: "in" }, `↓${format.rate(rx, true)}`), h("span", { class: "fg-tx", title: "out" }, `↑${format.rate(tx, true)}`));
    replace(nics, h("thead", {}, h("tr", {}, ["interface", "in", "out", "received", "sent", "err/drop"].map((c, i) => h("th", { class: i ? "num" : null }, c)))),
      h("tbody", {}, nets.map((n) => h("tr", {},
        h("td", { class: "mono" }, n.name),
        h("td", { class: "num" }, format.rate(n.rxBytesPerSecond, true)),
        h("td", { class: "num" }, format.rate(n.txBytesPerSecond, true)),
        h("td", { class: "num" }, format.bytes(n.rxBytes, true)),
        h("td", { class: "num" }, format.bytes(n.txBytes, true)),
        h("td", { class: "num", title: "errors / drops, in and out" },
          `${format.integer((n.rxErrors || 0) + (n.txErrors || 0))} / ${format.integer((n.rxDrops || 0) + (n.txDrops || 0))}`)))));
  }

  let chartKey = "";
  let historyAsked = false;
  function render() {
    const agent = fleet.agents.get(id);
    if (!agent) {
      setText(title, format.shortId(id));
      missing.hidden = !fleet.loaded;
      setText(missing, `No agent with id ${id} (it may have been deleted).`);
      return;
    }
    missing.hidden = true;
    if (!historyAsked) {
      historyAsked = true;
      ensureHistory(id, MAX_POINTS).catch(() => {});
    }
    document.title = `${agent.hostname} · fleet`;
    setText(title, agent.hostname);
    stateBadge.className = `badge state-${agent.state}`;
    stateBadge.dataset.field = "agent-state";
    setText(stateBadge, agent.state);
    setText(subtitle, `${agent.os.name} ${agent.os.version} · ${agent.id}`);
    renderFacts(agent);
    const series = fleet.series.get(id) || [];
    const last = series[series.length - 1];
    const key = `${series.length}:${last ? last.t : 0}`;
    if (key !== chartKey) {
      chartKey = key;
      renderCharts(agent);
    }
  }

  render();
  const unsubscribe = subscribe(render);
  const timer = setInterval(render, 1000);
  let resizeTimer = null;
  const onResize = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      chartKey = "";
      render();
    }, 150);
  };
  window.addEventListener("resize", onResize);
  return () => {
    unsubscribe();
    window.removeEventListener("resize", onResize);
    clearTimeout(resizeTimer);
    clearInterval(timer);
    status.abort();
    logs.abort();
    exec.abort();
    if (logURL) URL.revokeObjectURL(logURL);
    document.title = "fleet";
  };
}
