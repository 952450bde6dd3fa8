// The dashboard's files, served at / and /dashboard/<name>. Generated from dashboard/, the files
// to edit, by `python3 dashboard/embed.py`; `DashboardTests` fails when the two differ.
enum DashboardAssets {
    struct Asset: Sendable {
        let contentType: String
        /// A strong validator: the first 80 bits of the body's SHA-256, quoted.
        let etag: String
        let body: String
    }

    /// By exact file name: nothing outside this table can be served.
    static let files: [String: Asset] = [
        "agent.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""e5b4b1fb2d59d68532c4""#,
            body: #"""
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

"""#
        ),
        "api.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""27ee1d13e5f5e4eb64d8""#,
            body: #"""
// The admin REST API (docs/openapi.yaml). Every call carries the token from sessionStorage as
// `Authorization: Bearer`; a 401 or 403 anywhere signs the page out with the gateway's reason.

const TOKEN_KEY = "fleet.adminToken";

export class AuthError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "AuthError";
    this.status = status;
  }
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

let authFailureHandler = () => {};

/** Called once per refused token (401/403), with the AuthError. */
export function onAuthFailure(handler) {
  authFailureHandler = handler;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders(extra = {}) {
  return { Authorization: `Bearer ${token() || ""}`, ...extra };
}

/** The `{"error":{"code","message"}}` body of a failed response, as [code, message]. */
async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return [body.error.code || "error", body.error.message || response.statusText];
  } catch {
    // not JSON
  }
  return ["error", `HTTP ${response.status} ${response.statusText}`];
}

/** Throws AuthError (after telling the handler) or ApiError for a failed response. */
export async function check(response) {
  if (response.ok) return response;
  const [code, message] = await errorOf(response);
  if (response.status === 401 || response.status === 403) {
    const error = new AuthError(response.status, `${response.status} ${code}: ${message}`);
    authFailureHandler(error);
    throw error;
  }
  throw new ApiError(response.status, code, message);
}

/** A request to the admin API; resolves to the Response (2xx only). */
export async function request(path, { method = "GET", body, signal, headers = {} } = {}) {
  const init = { method, signal, cache: "no-store", headers: authHeaders({ Accept: "application/json", ...headers }) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  return check(await fetch(path, init));
}

export async function getJSON(path, options) {
  return (await request(path, options)).json();
}

export const listAgents = (signal) => getJSON("/api/v1/agents?limit=10000", { signal });
export const getAgent = (id, signal) => getJSON(`/api/v1/agents/${encodeURIComponent(id)}`, { signal });
export const listAlerts = (signal) => getJSON("/api/v1/alerts", { signal });

/** Metrics history, oldest first, at or after `since` (a Date), at most `limit`. */
export function history(id, since, limit, signal) {
  const query = new URLSearchParams({ since: since.toISOString(), limit: String(limit) });
  return getJSON(`/api/v1/agents/${encodeURIComponent(id)}/metrics?${query}`, { signal });
}

const FINAL = new Set(["completed", "failed"]);

/**
 * Asks an agent for something (POST callbacks?wait) and resolves to the finished request
 * record; keeps waiting on GET /requests/{id}?wait while the agent has not answered.
 * `progress(record or {requestId})` sees each intermediate state.
 */
export async function callback(agentId, kind, args, { wait = 30, signal, progress = () => {} } = {}) {
  const response = await request(`/api/v1/agents/${encodeURIComponent(agentId)}/callbacks?wait=${wait}`, {
    method: "POST",
    body: { kind, args },
    signal,
  });
  let record = await response.json();
  if (response.status === 200 && FINAL.has(record.state)) return record;
  const id = record.requestId || record.id;
  progress(record);
  for (;;) {
    record = await getJSON(`/api/v1/requests/${encodeURIComponent(id)}?wait=30`, { signal });
    if (FINAL.has(record.state)) return record;
    progress(record);
  }
}

/** The bytes a completed logs request brought back. */
export async function requestContent(requestId, signal) {
  const response = await request(`/api/v1/requests/${encodeURIComponent(requestId)}/content`, {
    signal,
    headers: { Accept: "application/octet-stream" },
  });
  return response.blob();
}

/** /readyz needs no token; 200 (ready or degraded) and 503 (not ready) both carry a body. */
export async function readiness(signal) {
  const response = await fetch("/readyz", { cache: "no-store", signal });
  return response.json();
}

"""#
        ),
        "app.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""ce6c273ea9dfe90c1283""#,
            body: #"""
// The dashboard's entry point: sign-in, the hash router (#/ and #/agents/<id>), the event
// stream, and the gateway's readiness in the top bar.

import * as api from "./api.js";
import { EventStream } from "./events.js";
import * as store from "./store.js";
import { renderOverview } from "./overview.js";
import { renderAgent } from "./agent.js";
import { Feed } from "./feed.js";
import { setText } from "./dom.js";

const $ = (id) => document.getElementById(id);

const feed = new Feed({ list: $("feed-list"), counts: $("feed-counts"), metricsToggle: $("feed-metrics"), hint: $("feed-hint") });
let stream = null;
let disposeView = null;
let readyTimer = null;
let running = false;

function stop() {
  running = false;
  if (stream) stream.stop();
  stream = null;
  if (disposeView) disposeView();
  disposeView = null;
  clearInterval(readyTimer);
  readyTimer = null;
}

function showSignIn(message, tone = "error") {
  stop();
  $("app").hidden = true;
  for (const id of ["sign-out", "nav", "gateway-status", "stream-status"]) $(id).hidden = true;
  $("sign-in").hidden = false;
  const box = $("sign-in-message");
  box.hidden = !message;
  box.className = `message ${tone}`;
  setText(box, message || "");
  const input = $("token");
  input.value = "";
  input.focus();
}

async function start() {
  stop();
  running = true;
  store.reset();
  feed.clear();
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("nav").hidden = false;
  // The stream first, so nothing that happens while the lists load is missed.
  stream = new EventStream({
    onEvent: (event) => {
      store.apply(event);
      feed.add(event);
    },
    onStatus: (status) => {
      feed.setStatus(status);
      const badge = $("stream-status");
      badge.hidden = false;
      badge.className = `status stream-${status}`;
      setText(badge, status === "live" ? "● live" : status === "connecting" ? "connecting…" : "reconnecting…");
    },
  });
  stream.start();
  route();
  try {
    await Promise.all([store.loadAgents(), store.loadAlerts()]);
  } catch {
    return; // a refused token: the sign-in form is back
  }
  if (!running) return;
  checkReadiness();
  let ticks = 0;
  readyTimer = setInterval(() => {
    checkReadiness();
    // The stream has no event for a deleted agent: a periodic list drops it.
    ticks += 1;
    if (ticks % 6 === 0) store.loadAgents().catch(() => {});
  }, 10000);
}

async function checkReadiness() {
  const badge = $("gateway-status");
  try {
    const ready = await api.readiness();
    badge.hidden = false;
    badge.className = `status ready-${ready.status.replace(" ", "-")}`;
    setText(badge, `${ready.gatewayId} · ${ready.status}`);
    badge.title = (ready.warnings || []).join("\n") || "replica in sync, registry heard";
  } catch {
    badge.hidden = false;
    badge.className = "status ready-not-ready";
    setText(badge, "gateway unreachable");
  }
}

function route() {
  if (!running) return;
  if (disposeView) disposeView();
  const view = $("view");
  const match = /^#\/agents\/([^/]+)$/.exec(location.hash);
  if (match) {
    disposeView = renderAgent(view, decodeURIComponent(match[1]));
  } else {
    disposeView = renderOverview(view);
  }
  view.scrollTop = 0;
  window.scrollTo(0, 0);
}

api.onAuthFailure((error) => {
  api.forgetToken();
  showSignIn(`The gateway refused the token (${error.message}). Sign in again with the admin token.`);
});

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("token").value.trim();
  if (!value) {
    showSignIn("Paste the admin token first.");
    return;
  }
  api.saveToken(value);
  // One request to check the token before everything starts asking with it.
  api.getJSON("/api/v1/agents?limit=1").then(start, (error) => {
    if (!(error instanceof api.AuthError)) showSignIn(`The gateway did not answer: ${error.message}`);
  });
});

$("sign-out").addEventListener("click", (event) => {
  event.preventDefault();
  api.forgetToken();
  showSignIn("Signed out. The token was removed from this tab.", "info");
});

window.addEventListener("hashchange", route);

if (api.token()) start();
else showSignIn();

"""#
        ),
        "charts.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""3e05e1a9732eed67e961""#,
            body: #"""
// Small hand-written SVG charts. Colours come from classes in style.css (no inline styles: the
// page's Content-Security-Policy forbids them).

import { s } from "./dom.js";
import { clock } from "./format.js";

const round = (n) => Math.round(n * 10) / 10;

/** A sparkline of values (nulls skipped) on 0..max. */
export function sparkline(values, { width = 88, height = 22, max = 100, kind = "cpu", label = "" } = {}) {
  const svg = s("svg", {
    class: `spark spark-${kind}`, width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label,
  });
  svg.append(s("line", { class: "spark-base", x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }));
  const known = values.map((v, i) => [i, v]).filter(([, v]) => v !== null && v !== undefined && Number.isFinite(v));
  if (known.length === 0) return svg;
  const n = Math.max(values.length - 1, 1);
  const x = (i) => round((i / n) * (width - 3) + 1);
  const y = (v) => round(height - 1.5 - (Math.min(Math.max(v, 0), max) / max) * (height - 3));
  const coords = known.map(([i, v]) => `${x(i)},${y(v)}`);
  if (known.length > 1) {
    const firstX = x(known[0][0]);
    const lastX = x(known[known.length - 1][0]);
    svg.append(s("path", { class: "spark-area", d: `M${firstX},${height} L${coords.join(" L")} L${lastX},${height} Z` }));
    svg.append(s("polyline", { class: "spark-line", points: coords.join(" ") }));
  }
  const [li, lv] = known[known.length - 1];
  svg.append(s("circle", { class: "spark-dot", cx: x(li), cy: y(lv), r: 1.8 }));
  return svg;
}

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten at or above `value`. */
export function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * power) return step * power;
  }
  return 10 * power;
}

/** niceMax for byte counts: 1, 2 or 5 times a power of ten of KiB, MiB, … (10 KiB/s, not 9.77). */
export function niceBytesMax(value) {
  if (!(value > 0)) return 1024;
  let unit = 1;
  while (value / unit >= 1000 && unit < 1024 ** 5) unit *= 1024;
  return niceMax(value / unit) * unit;
}

/**
 * A time-series line chart: `series` is [{name, kind, points: [{t, v}]}], drawn on a shared time
 * axis with three horizontal grid lines labelled by `format`. `max` fixes the y range (percent);
 * without it the range fits the data.
 */
export function lineChart(series, { width = 460, height = 130, max, fit = niceMax, format = String, label = "", padLeft = 34 } = {}) {
  const pad = { left: padLeft, right: 6, top: 7, bottom: 16 };
  const svg = s("svg", {
    class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label,
  });
  const all = series.flatMap((line) => line.points.filter((p) => p.v !== null && p.v !== undefined && Number.isFinite(p.v)));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const top = max ?? fit(Math.max(0, ...all.map((p) => p.v)) * 1.1);
  for (const fraction of [0, 0.5, 1]) {
    const y = round(pad.top + plotH * (1 - fraction));
    svg.append(s("line", { class: fraction === 0 ? "axis" : "grid", x1: pad.left, y1: y, x2: width - pad.right, y2: y }));
    svg.append(s("text", { class: "tick", x: pad.left - 5, y: y + 3.5, "text-anchor": "end" }, format(top * fraction)));
  }
  if (all.length === 0) {
    svg.append(s("text", { class: "empty", x: pad.left + plotW / 2, y: pad.top + plotH / 2, "text-anchor": "middle" }, "no data yet"));
    return svg;
  }
  const t0 = Math.min(...all.map((p) => p.t));
  const t1 = Math.max(...all.map((p) => p.t));
  svg.dataset.last = String(t1);
  const span = Math.max(t1 - t0, 1);
  const x = (t) => round(pad.left + ((t - t0) / span) * plotW);
  const y = (v) => round(pad.top + plotH * (1 - Math.min(Math.max(v, 0), top) / top));
  svg.append(s("text", { class: "tick", x: pad.left, y: height - 3, "text-anchor": "start" }, clock(t0)));
  svg.append(s("text", { class: "tick", x: width - pad.right, y: height - 3, "text-anchor": "end" }, clock(t1)));
  series.forEach((line, index) => {
    const points = line.points.filter((p) => p.v !== null && p.v !== undefined && Number.isFinite(p.v));
    if (points.length === 0) return;
    const coords = points.map((p) => `${x(p.t)},${y(p.v)}`);
    const cls = `series series-${line.kind || index}`;
    if (series.length === 1 && points.length > 1) {
      const base = round(pad.top + plotH);
      svg.append(s("path", { class: `${cls} area`, d: `M${x(points[0].t)},${base} L${coords.join(" L")} L${x(points[points.length - 1].t)},${base} Z` }));
    }
    if (points.length > 1) svg.append(s("polyline", { class: `${cls} line`, points: coords.join(" ") }));
    const lastPoint = points[points.length - 1];
    svg.append(s("circle", { class: `${cls} dot`, cx: x(lastPoint.t), cy: y(lastPoint.v), r: 2.5 }));
  });
  return svg;
}

/** A horizontal usage bar (0..100). */
export function bar(value, { width = 120, height = 8, warn = 80, danger = 90 } = {}) {
  const v = Math.min(Math.max(value || 0, 0), 100);
  const level = v >= danger ? "danger" : v >= warn ? "warn" : "ok";
  return s("svg", { class: "bar", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${v.toFixed(1)} %` },
    s("rect", { class: "bar-track", x: 0, y: 0, width, height, rx: 2 }),
    s("rect", { class: `bar-fill bar-${level}`, x: 0, y: 0, width: round((v / 100) * width), height, rx: 2 }));
}

"""#
        ),
        "dom.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""a88dfa6036bb95a640a9""#,
            body: #"""
// Building DOM without innerHTML: everything the agents report (hostnames, labels, output) is
// text, never markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: h("td", {class: "num"}, "42"). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replaces an element's children. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** Sets text only when it changed (keeps selections and avoids layout work). */
export function setText(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}

"""#
        ),
        "events.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""d46f5c849d275ba8d8e7""#,
            body: #"""
// GET /api/v1/events read with fetch() and a stream reader, so the token travels in the
// Authorization header (EventSource cannot set one, and a token in a URL ends up in logs).
// The server-sent-events format is parsed here; after a drop the stream is reopened with the
// last id seen as Last-Event-ID, so the gateway replays what was missed (or sends `reset`).

import { authHeaders, check, AuthError } from "./api.js";

/** Splits a text/event-stream into events ({id, type, data}) per the WHATWG algorithm. */
export class SSEParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = "";
    this.lastEventId = "";
    this.retry = null;
    this.reset();
  }

  reset() {
    this.type = "";
    this.data = [];
    this.sawData = false;
  }

  push(text) {
    this.buffer += text;
    // A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
    let end = this.buffer.length;
    if (this.buffer.endsWith("\r")) end -= 1;
    const complete = this.buffer.slice(0, end);
    const lines = complete.split(/\r\n|\r|\n/);
    // The last piece has no line ending yet.
    this.buffer = lines.pop() + this.buffer.slice(end);
    for (const line of lines) this.line(line);
  }

  line(line) {
    if (line === "") {
      if (this.sawData) {
        this.onEvent({ id: this.lastEventId, type: this.type || "message", data: this.data.join("\n") });
      }
      this.reset();
      return;
    }
    if (line.startsWith(":")) return; // comment (keep-alive)
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.type = value;
        break;
      case "data":
        this.data.push(value);
        this.sawData = true;
        break;
      case "id":
        if (!value.includes("\0")) this.lastEventId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

/**
 * The live event stream. `onEvent({id, type, data})` gets every event (data parsed as JSON when
 * it is JSON); `onStatus("connecting" | "live" | "reconnecting", detail)` the connection's state.
 */
export class EventStream {
  constructor({ onEvent, onStatus = () => {} }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.lastEventId = null;
    this.controller = null;
  }

  start() {
    if (this.controller) return;
    this.controller = new AbortController();
    this.run(this.controller.signal);
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  async run(signal) {
    let failures = 0;
    let retry = 2000;
    while (!signal.aborted) {
      this.onStatus(failures === 0 ? "connecting" : "reconnecting");
      const parser = new SSEParser((event) => this.dispatch(event));
      if (this.lastEventId) parser.lastEventId = this.lastEventId;
      try {
        const headers = authHeaders({ Accept: "text/event-stream" });
        if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
        const response = await check(await fetch("/api/v1/events", { headers, signal, cache: "no-store" }));
        this.onStatus("live");
        failures = 0;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
          if (parser.lastEventId) this.lastEventId = parser.lastEventId;
          if (parser.retry !== null) retry = parser.retry;
        }
      } catch (error) {
        if (signal.aborted || error instanceof AuthError) return;
        failures += 1;
      }
      if (signal.aborted) return;
      this.onStatus("reconnecting");
      // The server's retry hint, growing while the gateway stays unreachable (cap 15 s).
      await sleep(Math.min(15000, retry * 2 ** Math.min(failures, 3)) * (0.75 + Math.random() / 2), signal);
    }
  }

  dispatch(event) {
    let data = event.data;
    try {
      data = JSON.parse(event.data);
    } catch {
      // keep the text
    }
    this.onEvent({ id: event.id, type: event.type, data });
  }
}

"""#
        ),
        "favicon.svg": Asset(
            contentType: "image/svg+xml", etag: #""04a01cd6b0a683f4c742""#,
            body: #"""
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1e3a8a"/><path d="M5 21 L11 14 L16 18 L22 9 L27 13" fill="none" stroke="#ffffff" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/><circle cx="27" cy="13" r="2.5" fill="#4ade80"/></svg>

"""#
        ),
        "feed.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""fa68322c28f9c33b6a67""#,
            body: #"""
// The events column: the newest events first. agent.metrics (one per heartbeat per agent) is
// counted but only listed when the "metrics" box is ticked.

import { h, setText } from "./dom.js";
import * as format from "./format.js";
import { fleet } from "./store.js";

const MAX_ITEMS = 200;

/** When it happened, from the record the event carries (a replayed event keeps its time). */
function eventTime(type, data) {
  if (data && typeof data === "object") {
    const family = type.split(".")[0];
    const time = family === "agent" ? (type === "agent.online" ? data.connectedAt : type === "agent.metrics" ? data.lastSeen : data.disconnectedAt || data.lastSeen)
      : family === "request" ? data.completedAt || data.createdAt
        : family === "alert" ? data.resolvedAt || data.firedAt : null;
    if (time && !Number.isNaN(Date.parse(time))) return new Date(time);
  }
  return new Date();
}

export class Feed {
  constructor({ list, counts, metricsToggle, hint }) {
    this.list = list;
    this.hint = hint;
    this.counts = counts;
    this.metricsToggle = metricsToggle;
    this.received = 0;
    this.metrics = 0;
    this.status = "connecting";
    metricsToggle.addEventListener("change", () => {
      for (const item of this.list.children) {
        if (item.dataset.type === "agent.metrics") item.hidden = !metricsToggle.checked;
      }
      this.showHint();
    });
  }

  clear() {
    this.list.replaceChildren();
    this.received = 0;
    this.metrics = 0;
    this.showCounts();
    this.showHint();
  }

  setStatus(status) {
    this.status = status;
    this.showCounts();
  }

  showHint() {
    const visible = [...this.list.children].some((item) => !item.hidden);
    this.hint.hidden = visible;
    setText(this.hint, this.metrics && !this.metricsToggle.checked
      ? "Only agent.metrics events so far (one per heartbeat); tick “metrics” to list them. State changes, requests and alerts appear here."
      : "State changes, requests and alerts appear here as they happen.");
  }

  showCounts() {
    const connection = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…" }[this.status] || this.status;
    setText(this.counts, `${connection} · ${this.received} events${this.metrics ? ` (${this.metrics} metrics)` : ""}`);
  }

  add(event) {
    this.received += 1;
    if (event.type === "agent.metrics") this.metrics += 1;
    this.showCounts();
    const item = this.item(event);
    if (event.type === "agent.metrics" && !this.metricsToggle.checked) item.hidden = true;
    this.list.prepend(item);
    while (this.list.children.length > MAX_ITEMS) this.list.lastElementChild.remove();
    this.showHint();
  }

  host(agentId) {
    const agent = fleet.agents.get(agentId);
    return h("a", { href: `#/agents/${encodeURIComponent(agentId)}` }, agent ? agent.hostname : format.shortId(agentId));
  }

  item(event) {
    const { type, data } = event;
    const family = type.split(".")[0];
    const state = type.split(".")[1] || "";
    let text;
    if (family === "agent" && data && data.id) {
      text = type === "agent.metrics"
        ? [this.host(data.id), ` cpu ${format.percent(data.metrics && data.metrics.cpu ? data.metrics.cpu.totalPercent : null)}`]
        : [this.host(data.id), data.stateReason ? ` — ${data.stateReason}` : ""];
    } else if (family === "request" && data && data.id) {
      text = [`${data.kind} `, this.host(data.agentId), state === "failed" && data.error ? ` — ${data.error}` : ""];
    } else if (family === "alert" && data && data.id) {
      text = [h("a", { href: `#/agents/${encodeURIComponent(data.agentId)}` }, data.rule), `: ${data.message}`];
    } else {
      text = [typeof data === "object" && data && data.reason ? data.reason : String(data)];
    }
    return h("li", { class: `event ev-${family} ev-${state}`, dataset: { type, id: event.id } },
      h("span", { class: "ev-time" }, format.clock(eventTime(type, data))),
      h("span", { class: "ev-type" }, type),
      h("span", { class: "ev-text" }, text));
  }
}

"""#
        ),
        "format.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""14094d9b62236efa9e4b""#,
            body: #"""
// Numbers and times for people.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1.23 GiB; `compact` keeps at most one decimal (1.2 GiB). */
export function bytes(value, compact = false) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  let n = Math.abs(value);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || n >= 100 ? 0 : n >= 10 || compact ? 1 : 2;
  return `${value < 0 ? "-" : ""}${n.toFixed(digits)} ${UNITS[unit]}`;
}

export function rate(value, compact = false) {
  return value === null || value === undefined ? "–" : `${bytes(value, compact)}/s`;
}

export function percent(value, digits = 1) {
  return value === null || value === undefined || !Number.isFinite(value) ? "–" : `${value.toFixed(digits)} %`;
}

export function integer(value) {
  return value === null || value === undefined ? "–" : Math.round(value).toLocaleString("en-US");
}

/** 3 d 4 h, 5 h 12 m, 7 m 3 s, 12 s. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${hr} h`;
  if (hr > 0) return `${hr} h ${m} m`;
  if (m > 0) return `${m} m ${s % 60} s`;
  return `${s} s`;
}

/** A command's run time: 12 ms, 1.25 s, 3 m 4 s. */
export function seconds(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 60) return `${value.toFixed(2)} s`;
  return duration(value);
}

/** "4 s ago", "3 m ago"; "–" without a time. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "–";
  const seconds = (now - Date.parse(iso)) / 1000;
  if (seconds < 1.5) return "just now";
  return `${duration(seconds)} ago`;
}

const pad = (n) => String(n).padStart(2, "0");

export function clock(value) {
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return "–";
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function dateTime(value) {
  if (!value) return "–";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return "–";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(d)}`;
}

export function shortId(id) {
  return id && id.length > 12 ? `${id.slice(0, 8)}…` : id || "";
}

/** Memory used share of a snapshot, in percent (null when unknown). */
export function memoryPercent(metrics) {
  const m = metrics && metrics.memory;
  if (!m || !m.totalBytes) return null;
  return (m.usedBytes / m.totalBytes) * 100;
}

/** The fullest real filesystem of a snapshot. */
export function fullestDisk(metrics) {
  const list = (metrics && metrics.filesystems) || [];
  let best = null;
  for (const fs of list) {
    if (best === null || fs.usedPercent > best.usedPercent) best = fs;
  }
  return best;
}

"""#
        ),
        "index.html": Asset(
            contentType: "text/html; charset=utf-8", etag: #""a1916d427b47088f6ea4""#,
            body: #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fleet</title>
<link rel="icon" href="/dashboard/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/dashboard/style.css">
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<header class="topbar">
  <a class="brand" href="#/"><img src="/dashboard/favicon.svg" alt="" width="18" height="18">fleet</a>
  <nav class="nav" id="nav" hidden><a href="#/">Overview</a></nav>
  <span class="spacer"></span>
  <span class="status" id="gateway-status" hidden></span>
  <span class="status" id="stream-status" hidden></span>
  <a href="#/" id="sign-out" hidden>Sign out</a>
</header>

<section id="sign-in" class="sign-in" hidden>
  <form id="sign-in-form" class="card" autocomplete="off">
    <h1>Sign in</h1>
    <p class="muted">Paste the master's admin token (<code>data/admin-token</code>, or <code>auth.admin_token</code>). It stays in this tab only.</p>
    <input type="text" name="username" value="admin" autocomplete="username" hidden>
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required spellcheck="false">
    <p id="sign-in-message" class="message" role="alert" hidden></p>
    <button type="submit" class="primary">Sign in</button>
  </form>
</section>

<div id="app" class="layout" hidden>
  <main id="view" class="view"></main>
  <aside class="feed" aria-label="Events">
    <div class="feed-head">
      <h2>Events</h2>
      <label class="toggle"><input type="checkbox" id="feed-metrics"> metrics</label>
    </div>
    <p class="feed-counts muted" id="feed-counts">connecting…</p>
    <p class="feed-hint muted" id="feed-hint"></p>
    <ol id="feed-list" class="feed-list"></ol>
  </aside>
</div>

<noscript><p class="message">The dashboard needs JavaScript.</p></noscript>
</body>
</html>

"""#
        ),
        "overview.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""28560ca1e0f1954592dc""#,
            body: #"""
// The fleet overview (#/): counts by state, alerts firing, and the searchable, sortable table
// of agents with CPU and memory sparklines.

import { h, replace, setText } from "./dom.js";
import { sparkline, bar } from "./charts.js";
import * as format from "./format.js";
import { fleet, subscribe, queueHistory } from "./store.js";

const STATES = ["online", "disconnected", "offline", "pending", "revoked"];
const SPARK_POINTS = 60;
/** Rows drawn at most; a search narrows the rest. */
const MAX_ROWS = 500;

// Kept across visits, so coming back from an agent finds the table as it was left.
const ui = { query: "", sort: "hostname", dir: 1, state: null };

const COLUMNS = [
  { key: "state", label: "State", sort: (a) => STATES.indexOf(a.state) },
  { key: "hostname", label: "Host", sort: (a) => a.hostname.toLowerCase() },
  { key: "id", label: "Agent id", sort: (a) => a.id },
  { key: "os", label: "OS", sort: (a) => `${a.os.name} ${a.os.version}`.toLowerCase() },
  { key: "labels", label: "Labels", sort: (a) => labelText(a) },
  { key: "cpu", label: "CPU", sort: (a) => metric(a, (m) => m.cpu && m.cpu.totalPercent), num: true },
  { key: "mem", label: "Memory", sort: (a) => metric(a, format.memoryPercent), num: true },
  { key: "disk", label: "Fullest disk", sort: (a) => metric(a, (m) => (format.fullestDisk(m) || {}).usedPercent), num: true },
  { key: "lastSeen", label: "Last seen", sort: (a) => -Date.parse(a.lastSeen), num: true },
];

function metric(agent, pick) {
  const value = agent.metrics ? pick(agent.metrics) : null;
  return value === null || value === undefined ? -1 : value;
}

function labelText(agent) {
  return Object.entries(agent.labels || {}).map(([k, v]) => `${k}=${v}`).sort().join(" ");
}

function matches(agent, terms) {
  if (ui.state && agent.state !== ui.state) return false;
  if (terms.length === 0) return true;
  const haystack = `${agent.hostname} ${agent.id} ${labelText(agent)} ${agent.os.name}`.toLowerCase();
  return terms.every((term) => haystack.includes(term));
}

export function renderOverview(view) {
  const counts = h("div", { class: "counts" });
  const alerts = h("section", { class: "card alerts", "aria-label": "Alerts firing" });
  const search = h("input", {
    type: "search", class: "search", placeholder: "Search host, id or label (role=db)…", "aria-label": "Search agents",
    value: ui.query, spellcheck: "false",
  });
  const shown = h("span", { class: "muted shown" });
  const stateChip = h("span", { class: "filter-chip", hidden: true });
  const head = h("tr");
  const body = h("tbody");
  const empty = h("p", { class: "empty-table muted", hidden: true });
  const table = h("table", { class: "agents", id: "agents-table" }, h("thead", {}, head), body);
  const rows = new Map();

  search.addEventListener("input", () => {
    ui.query = search.value;
    render();
  });
  stateChip.addEventListener("click", () => {
    ui.state = null;
    render();
  });

  for (const column of COLUMNS) {
    const button = h("button", { type: "button", class: "sort" }, column.label, h("span", { class: "arrow", "aria-hidden": "true" }));
    button.addEventListener("click", () => {
      if (ui.sort === column.key) ui.dir = -ui.dir;
      else {
        ui.sort = column.key;
        ui.dir = 1;
      }
      render();
    });
    head.append(h("th", { class: column.num ? "num" : null, dataset: { key: column.key } }, button));
  }

  replace(view,
    h("div", { class: "page-head" }, h("h1", {}, "Fleet"), counts),
    alerts,
    h("section", { class: "card table-card" },
      h("div", { class: "toolbar" }, search, stateChip, h("span", { class: "spacer" }), shown),
      h("div", { class: "table-wrap" }, table, empty)));

  // The count cards are made once and updated in place.
  const countCards = [null, ...STATES].map((key) => {
    const value = h("span", { class: "count-value" });
    const card = h("button", {
      type: "button", class: `count${key ? ` count-${key}` : ""}`, dataset: { state: key || "all" },
      title: key ? `Show only ${key} agents` : "Show all agents",
    }, value, h("span", { class: "count-label" }, key || "agents"));
    card.addEventListener("click", () => {
      ui.state = ui.state === key ? null : key;
      render();
    });
    return { key, card, value };
  });
  const firingValue = h("span", { class: "count-value" });
  const firingCard = h("div", { class: "count count-alerts", dataset: { state: "alerts" } }, firingValue, h("span", { class: "count-label" }, "alerts firing"));
  replace(counts, countCards.map((c) => c.card), firingCard);

  function renderCounts() {
    const all = [...fleet.agents.values()];
    for (const { key, card, value } of countCards) {
      setText(value, key ? all.filter((a) => a.state === key).length : all.length);
      card.classList.toggle("active", key !== null && ui.state === key);
    }
    const firing = [...fleet.alerts.values()].filter((a) => a.state === "firing").length;
    setText(firingValue, firing);
    firingCard.classList.toggle("firing", firing > 0);
  }

  let alertsKey = null;
  function renderAlerts() {
    const list = [...fleet.alerts.values()].sort((a, b) => Date.parse(b.firedAt) - Date.parse(a.firedAt));
    const firing = list.filter((a) => a.state === "firing");
    const resolved = list.length - firing.length;
    const key = JSON.stringify([resolved, firing.map((a) => [a.id, a.firedAt, a.message, a.hostname])]);
    if (key === alertsKey) return;
    alertsKey = key;
    const headline = h("h2", {}, "Alerts firing", h("span", { class: "muted small" }, resolved ? ` · ${resolved} recently resolved` : ""));
    if (firing.length === 0) {
      alerts.classList.remove("has-firing");
      replace(alerts, headline, h("p", { class: "muted none" }, "None. Every rule is quiet."));
      return;
    }
    alerts.classList.add("has-firing");
    replace(alerts, headline, h("ul", { class: "alert-list" }, firing.map((alert) => h("li", {},
      h("span", { class: `badge kind-${alert.kind}` }, alert.kind),
      h("a", { href: `#/agents/${encodeURIComponent(alert.agentId)}`, title: `${alert.hostname} (${alert.agentId})` }, alert.rule),
      h("span", { class: "alert-message" }, alert.message),
      h("span", { class: "muted" }, `since ${format.clock(alert.firedAt)}`)))));
  }

  function rowFor(agent) {
    let row = rows.get(agent.id);
    if (row) return row;
    const link = h("a", { href: `#/agents/${encodeURIComponent(agent.id)}`, class: "host" });
    const cells = {
      state: h("td", { class: "state-cell" }),
      hostname: h("td", {}, link),
      id: h("td", { class: "mono", title: agent.id }, agent.id.length > 12 ? agent.id.slice(0, 8) : agent.id),
      os: h("td", { class: "os", title: `${agent.os.name} ${agent.os.version}, kernel ${agent.os.kernel}` }),
      labels: h("td", { class: "labels" }),
      cpu: h("td", { class: "num spark-cell" }),
      mem: h("td", { class: "num spark-cell" }),
      disk: h("td", { class: "num" }),
      lastSeen: h("td", { class: "num muted" }),
    };
    const tr = h("tr", { dataset: { agentId: agent.id } }, Object.values(cells));
    tr.addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      location.hash = `#/agents/${encodeURIComponent(agent.id)}`;
    });
    row = { tr, link, cells, sparkKey: "", labelKey: null };
    rows.set(agent.id, row);
    return row;
  }

  function updateRow(row, agent) {
    const { cells } = row;
    if (cells.state.dataset.state !== agent.state) {
      cells.state.dataset.state = agent.state;
      row.tr.dataset.state = agent.state;
      replace(cells.state, h("span", { class: `dot dot-${agent.state}` }), agent.state);
    }
    cells.state.title = agent.stateReason || agent.state;
    setText(row.link, agent.hostname);
    setText(cells.os, `${agent.os.name} ${agent.os.version} · ${agent.os.arch}`);
    const labels = labelText(agent);
    if (row.labelKey !== labels) {
      row.labelKey = labels;
      replace(cells.labels, labels ? Object.entries(agent.labels).sort().map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`))
        : h("span", { class: "muted" }, "–"));
      cells.labels.title = labels;
    }
    const series = (fleet.series.get(agent.id) || []).slice(-SPARK_POINTS);
    const last = series[series.length - 1];
    const sparkKey = `${series.length}:${last ? last.t : 0}:${agent.state}`;
    if (row.sparkKey !== sparkKey) {
      row.sparkKey = sparkKey;
      const m = agent.metrics || {};
      replace(cells.cpu,
        sparkline(series.map((p) => p.cpu), { kind: "cpu", width: 56, label: "CPU, recent" }),
        h("span", { class: "value" }, format.percent(m.cpu ? m.cpu.totalPercent : null)));
      replace(cells.mem,
        sparkline(series.map((p) => p.mem), { kind: "mem", width: 56, label: "memory, recent" }),
        h("span", { class: "value" }, format.percent(format.memoryPercent(m))));
      const disk = format.fullestDisk(m);
      replace(cells.disk, disk
        ? h("span", { class: "disk", title: `${disk.mountPoint}: ${format.bytes(disk.totalBytes - disk.freeBytes)} of ${format.bytes(disk.totalBytes)}` },
          bar(disk.usedPercent, { width: 40, height: 6 }), h("span", { class: "value" }, format.percent(disk.usedPercent, 0)))
        : "–");
    }
    setText(cells.lastSeen, format.ago(agent.lastSeen));
  }

  function renderTable() {
    const terms = ui.query.toLowerCase().split(/\s+/).filter(Boolean);
    const column = COLUMNS.find((c) => c.key === ui.sort) || COLUMNS[1];
    const all = [...fleet.agents.values()];
    const list = all.filter((agent) => matches(agent, terms)).sort((a, b) => {
      const x = column.sort(a);
      const y = column.sort(b);
      if (x < y) return -ui.dir;
      if (x > y) return ui.dir;
      return a.id < b.id ? -1 : 1;
    });
    const visible = list.slice(0, MAX_ROWS);
    const keep = new Set(visible.map((a) => a.id));
    for (const [id, row] of rows) {
      if (!keep.has(id)) {
        row.tr.remove();
        if (!fleet.agents.has(id)) rows.delete(id);
      }
    }
    visible.forEach((agent, index) => {
      const row = rowFor(agent);
      updateRow(row, agent);
      if (body.children[index] !== row.tr) body.insertBefore(row.tr, body.children[index] || null);
      queueHistory(agent.id, SPARK_POINTS);
    });
    for (const th of head.children) {
      const active = th.dataset.key === ui.sort;
      th.setAttribute("aria-sort", active ? (ui.dir > 0 ? "ascending" : "descending") : "none");
      th.classList.toggle("sorted", active);
    }
    setText(shown, list.length === all.length
      ? `${all.length} agent${all.length === 1 ? "" : "s"}`
      : `${list.length} of ${all.length} agents${list.length > MAX_ROWS ? ` (first ${MAX_ROWS} shown)` : ""}`);
    stateChip.hidden = !ui.state;
    setText(stateChip, ui.state ? `state: ${ui.state} ✕` : "");
    empty.hidden = visible.length > 0;
    setText(empty, !fleet.loaded ? (fleet.error || "Loading agents…")
      : all.length === 0 ? "No agent has connected yet. Start one with: agent run --set master.url=ws://<gateway>/ws"
        : "No agent matches.");
  }

  function render() {
    renderCounts();
    renderAlerts();
    renderTable();
  }

  render();
  const unsubscribe = subscribe(render);
  // "Last seen" ages even when nothing arrives.
  const timer = setInterval(renderTable, 1000);
  return () => {
    unsubscribe();
    clearInterval(timer);
  };
}

"""#
        ),
        "store.js": Asset(
            contentType: "text/javascript; charset=utf-8", etag: #""89d15f2d6914dfe5e624""#,
            body: #"""
// The page's copy of the fleet: agents, alerts and a short metrics series per agent, filled
// from the REST API and kept current by the event stream. Views subscribe and re-render.

import * as api from "./api.js";
import { memoryPercent } from "./format.js";

/** Points kept per agent (enough for the detail charts). */
export const MAX_POINTS = 300;

export const fleet = {
  agents: new Map(),
  alerts: new Map(),
  series: new Map(),
  loaded: false,
  error: null,
};

const listeners = new Set();
let pending = null;

/** `listener(fleet)` after changes, at most once per animation frame. */
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function changed() {
  if (pending !== null) return;
  pending = requestAnimationFrame(() => {
    pending = null;
    for (const listener of [...listeners]) listener(fleet);
  });
}

/** What the charts need from a MetricsSnapshot (the full snapshot is ~2 KB). */
export function point(snapshot) {
  const network = (snapshot.network || []).filter((n) => n.name !== "lo");
  const sum = (key) => network.reduce((total, n) => total + (n[key] || 0), 0);
  return {
    t: Date.parse(snapshot.timestamp),
    seq: snapshot.seq,
    cpu: snapshot.cpu ? snapshot.cpu.totalPercent : null,
    mem: memoryPercent(snapshot),
    memUsed: snapshot.memory ? snapshot.memory.usedBytes : null,
    disks: (snapshot.filesystems || []).map((fs) => ({ mount: fs.mountPoint, pct: fs.usedPercent })),
    rx: network.length ? sum("rxBytesPerSecond") : null,
    tx: network.length ? sum("txBytesPerSecond") : null,
  };
}

/** Adds snapshots to an agent's series, in time order, without duplicates. */
export function addSnapshots(id, snapshots) {
  const series = fleet.series.get(id) || [];
  let added = false;
  for (const snapshot of snapshots) {
    if (!snapshot || !snapshot.timestamp) continue;
    const p = point(snapshot);
    if (Number.isNaN(p.t)) continue;
    const last = series[series.length - 1];
    if (last && p.t === last.t && p.seq === last.seq) continue;
    if (!last || p.t > last.t) {
      series.push(p);
    } else if (!series.some((q) => q.t === p.t && q.seq === p.seq)) {
      series.push(p);
      series.sort((a, b) => a.t - b.t);
    } else {
      continue;
    }
    added = true;
  }
  if (series.length > MAX_POINTS) series.splice(0, series.length - MAX_POINTS);
  fleet.series.set(id, series);
  if (added) changed();
}

function upsertAgent(record) {
  fleet.agents.set(record.id, record);
  if (record.metrics) addSnapshots(record.id, [record.metrics]);
  changed();
}

export async function loadAgents() {
  try {
    const list = await api.listAgents();
    const seen = new Set();
    for (const record of list.agents) {
      seen.add(record.id);
      upsertAgent(record);
    }
    for (const id of [...fleet.agents.keys()]) {
      if (!seen.has(id)) {
        fleet.agents.delete(id);
        fleet.series.delete(id);
      }
    }
    fleet.loaded = true;
    fleet.error = null;
  } catch (error) {
    if (error instanceof api.AuthError) throw error;
    fleet.error = `agents could not be loaded: ${error.message}`;
  }
  changed();
}

export async function loadAlerts() {
  try {
    const list = await api.listAlerts();
    fleet.alerts = new Map(list.alerts.map((alert) => [alert.id, alert]));
  } catch (error) {
    if (error instanceof api.AuthError) throw error;
  }
  changed();
}

/** Applies one event from the stream. */
export function apply(event) {
  const { type, data } = event;
  if (type.startsWith("agent.") && data && data.id) {
    upsertAgent(data);
  } else if (type.startsWith("alert.") && data && data.id) {
    fleet.alerts.set(data.id, data);
    changed();
  } else if (type === "reset") {
    // The gateway's replica resynced or our Last-Event-ID is gone: reload everything.
    loadAgents().catch(() => {});
    loadAlerts().catch(() => {});
  }
}

const historyLoaded = new Map();

/**
 * Loads the latest `points` snapshots of an agent into its series (once per agent and size).
 * The API returns the oldest first from `since`, so: ask for the last 6 hours; if that was
 * capped, the spacing of what came back gives the interval, and a second ask starts late enough.
 */
export function ensureHistory(id, points) {
  const key = `${id}/${points}`;
  if (!historyLoaded.has(key)) {
    historyLoaded.set(key, loadHistory(id, points).catch((error) => {
      // Try again later, not on every render.
      setTimeout(() => historyLoaded.delete(key), 30000);
      if (error instanceof api.AuthError) throw error;
    }));
  }
  return historyLoaded.get(key);
}

const queue = [];
let running = 0;

/** ensureHistory for many agents (the overview's rows), three requests at a time. */
export function queueHistory(id, points) {
  if (historyLoaded.has(`${id}/${points}`) || queue.some((q) => q.id === id && q.points === points)) return;
  queue.push({ id, points });
  drain();
}

function drain() {
  while (running < 3 && queue.length > 0) {
    const { id, points } = queue.shift();
    running += 1;
    ensureHistory(id, points).catch(() => {}).finally(() => {
      running -= 1;
      drain();
    });
  }
}

async function loadHistory(id, points) {
  const now = Date.now();
  let { metrics } = await api.history(id, new Date(now - 6 * 3600 * 1000), points);
  if (metrics.length === points && points > 1) {
    const first = Date.parse(metrics[0].timestamp);
    const last = Date.parse(metrics[metrics.length - 1].timestamp);
    const interval = Math.max(0.5, (last - first) / 1000 / (points - 1));
    const since = new Date(now - interval * points * 1.2 * 1000);
    ({ metrics } = await api.history(id, since, points * 2));
    metrics = metrics.slice(-points);
  }
  addSnapshots(id, metrics);
}

export function reset() {
  fleet.agents.clear();
  fleet.alerts.clear();
  fleet.series.clear();
  historyLoaded.clear();
  queue.length = 0;
  fleet.loaded = false;
  fleet.error = null;
}

"""#
        ),
        "style.css": Asset(
            contentType: "text/css; charset=utf-8", etag: #""93223c0a5d2f72072ebb""#,
            body: #"""
/* fleet dashboard: dense, light, system fonts only. */
:root {
  --bg: #f3f4f6;
  --card: #ffffff;
  --line: #dde1e7;
  --line-soft: #eceef2;
  --text: #18202c;
  --muted: #5b6573;
  --accent: #1d4ed8;
  --accent-soft: #e8eefc;
  --online: #15803d;
  --disconnected: #b45309;
  --offline: #b91c1c;
  --revoked: #4b5563;
  --cpu: #2563eb;
  --mem: #7c3aed;
  --rx: #0e7490;
  --tx: #db2777;
  --warn: #d97706;
  --danger: #dc2626;
  --ok: #16a34a;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  color-scheme: light;
}

* { box-sizing: border-box; }
[hidden] { display: none !important; }

html, body { margin: 0; height: 100%; }
body {
  background: var(--bg);
  color: var(--text);
  font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}

a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
h1, h2 { margin: 0; font-weight: 600; }
h1 { font-size: 19px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
code, .mono { font-family: var(--mono); font-size: 12px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.spacer { flex: 1; }

button, input { font: inherit; color: inherit; }
button {
  border: 1px solid var(--line);
  background: #fff;
  border-radius: 5px;
  padding: 4px 11px;
  cursor: pointer;
}
button:hover:not(:disabled) { border-color: #b8c0cc; background: #f8f9fb; }
button:disabled { opacity: 0.55; cursor: progress; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
button.primary:hover:not(:disabled) { background: #1e40af; border-color: #1e40af; }
input[type="text"], input[type="password"], input[type="search"], input[type="number"] {
  border: 1px solid var(--line);
  border-radius: 5px;
  padding: 4px 8px;
  background: #fff;
  min-width: 0;
}
input:focus, button:focus-visible { outline: 2px solid #93b4f5; outline-offset: 0; border-color: var(--accent); }

/* Top bar */
.topbar {
  height: 44px;
  display: flex;
  align-items: center;
  gap: 14px;
  padding: 0 16px;
  background: #fff;
  border-bottom: 1px solid var(--line);
}
.brand { display: flex; align-items: center; gap: 7px; font-weight: 700; font-size: 15px; color: var(--text); }
.brand:hover { text-decoration: none; }
.nav a { color: var(--text); font-weight: 500; }
.status { font-size: 12px; padding: 2px 8px; border-radius: 10px; background: var(--line-soft); color: var(--muted); white-space: nowrap; }
.stream-live { color: var(--online); background: #e7f6ec; }
.stream-reconnecting { color: var(--disconnected); background: #fdf3e3; }
.ready-ready { color: var(--online); background: #e7f6ec; }
.ready-degraded { color: var(--disconnected); background: #fdf3e3; }
.ready-not-ready { color: var(--offline); background: #fdecec; }

/* Sign-in */
.sign-in { display: flex; justify-content: center; padding-top: 12vh; }
.sign-in form { width: 400px; display: flex; flex-direction: column; gap: 8px; padding: 24px; }
.sign-in h1 { margin-bottom: 2px; }
.sign-in p { margin: 0 0 6px; }
.sign-in label { font-weight: 600; }
.sign-in input { padding: 7px 9px; font-family: var(--mono); }
.sign-in button { align-self: flex-start; padding: 6px 16px; margin-top: 4px; }
.message { margin: 0; padding: 8px 10px; border-radius: 5px; }
.message.error { background: #fdecec; color: #8f1414; border: 1px solid #f5c2c2; }
.message.info { background: var(--accent-soft); color: #1e3a8a; border: 1px solid #c7d5f7; }

/* Layout: the view and the events column */
.layout { display: grid; grid-template-columns: minmax(0, 1fr) 280px; height: calc(100vh - 44px); }
.view { overflow: auto; padding: 14px 16px 24px; display: flex; flex-direction: column; gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 7px; padding: 10px 12px; min-width: 0; }
.card > h2 { margin-bottom: 8px; }
.card-head { display: flex; align-items: baseline; justify-content: space-between; gap: 8px; margin-bottom: 4px; }
.card-head .now { font-variant-numeric: tabular-nums; font-weight: 600; display: flex; align-items: center; gap: 6px; white-space: nowrap; font-size: 12px; }
.chart-card .card-head { flex-direction: column; align-items: flex-start; gap: 0; margin-bottom: 2px; }
.chart-card .now { font-size: 15px; min-height: 22px; overflow: hidden; max-width: 100%; }
.fg-rx { color: var(--rx); }
.fg-tx { color: var(--tx); }
.page-head { display: flex; align-items: center; gap: 18px; flex-wrap: wrap; }

/* Counts */
.counts { display: flex; gap: 8px; flex-wrap: wrap; }
.count {
  display: flex; align-items: baseline; gap: 6px;
  padding: 5px 12px; border: 1px solid var(--line); border-radius: 7px; background: #fff; color: var(--text);
}
.count-value { font-size: 20px; font-weight: 700; font-variant-numeric: tabular-nums; }
.count-label { color: var(--muted); }
.count-online .count-value { color: var(--online); }
.count-disconnected .count-value { color: var(--disconnected); }
.count-offline .count-value { color: var(--offline); }
.count-pending .count-value { color: var(--disconnected); }
.count-revoked .count-value { color: var(--revoked); }
.count.active { border-color: var(--accent); background: var(--accent-soft); }
.count-alerts .count-value { color: var(--muted); }
.count-alerts.firing { border-color: #f5c2c2; background: #fdecec; }
.count-alerts.firing .count-value { color: var(--danger); }

/* Alerts */
.alerts { padding: 8px 12px; }
.alerts h2 { margin-bottom: 4px; }
.alerts .none { margin: 0; }
.alerts.has-firing { border-color: #f5c2c2; }
.alert-list { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 3px; }
.alert-list li { display: flex; gap: 10px; align-items: baseline; }
.alert-message { flex: 1; }

/* Badges */
.badge {
  display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 11.5px; font-weight: 600;
  background: var(--line-soft); color: var(--muted); line-height: 18px; white-space: nowrap;
}
.state-online, .state-completed { background: #e2f4e8; color: var(--online); }
.state-disconnected, .state-pending, .state-dispatched { background: #fdf1de; color: var(--disconnected); }
.state-offline, .state-failed { background: #fde6e6; color: var(--offline); }
.state-revoked { background: #e5e7eb; color: var(--revoked); }
.kind-offline, .kind-cpu, .kind-memory, .kind-disk { background: #fde6e6; color: var(--offline); }

/* Agents table */
.table-card { padding: 0; overflow: hidden; }
.toolbar { display: flex; align-items: center; gap: 10px; padding: 8px 10px; border-bottom: 1px solid var(--line); }
.search { width: 340px; }
.filter-chip {
  cursor: pointer; padding: 2px 9px; border-radius: 10px; background: var(--accent-soft); color: var(--accent); font-size: 12px;
}
.table-wrap { overflow-x: auto; }
table.agents { width: 100%; border-collapse: collapse; }
table.agents th, table.agents td { padding: 4px 6px; border-bottom: 1px solid var(--line-soft); white-space: nowrap; text-align: left; }
table.agents th.num, table.agents td.num { text-align: right; }
table.agents thead th { position: sticky; top: 0; background: #f8f9fb; border-bottom: 1px solid var(--line); font-weight: 600; }
table.agents th button.sort {
  border: 0; background: none; padding: 0; font-weight: 600; color: var(--muted); font-size: 12px;
}
table.agents th.sorted button.sort { color: var(--text); }
table.agents th .arrow { display: inline-block; width: 10px; }
table.agents th[aria-sort="ascending"] .arrow::after { content: "▲"; font-size: 8px; margin-left: 3px; }
table.agents th[aria-sort="descending"] .arrow::after { content: "▼"; font-size: 8px; margin-left: 3px; }
table.agents tbody tr { cursor: pointer; }
table.agents tbody tr:hover { background: #f5f8ff; }
table.agents .host { font-weight: 600; }
table.agents tr:not([data-state="online"]) td.spark-cell,
table.agents tr:not([data-state="online"]) td .disk { opacity: 0.55; }
table.agents td.os { color: var(--muted); max-width: 120px; overflow: hidden; text-overflow: ellipsis; }
table.agents td.labels { max-width: 150px; overflow: hidden; text-overflow: ellipsis; }
.spark-cell { line-height: 0; }
.spark-cell svg, .spark-cell .value { vertical-align: middle; }
.spark-cell svg { margin: 0 4px 0 6px; }
.spark-cell .value, .disk .value { display: inline-block; width: 40px; text-align: right; line-height: 1.45; font-variant-numeric: tabular-nums; }
.disk { display: inline-flex; align-items: center; gap: 4px; }
.empty-table { padding: 14px 12px; margin: 0; }
.label {
  display: inline-block; margin-right: 4px; padding: 0 6px; border-radius: 4px;
  background: var(--line-soft); border: 1px solid var(--line); font-family: var(--mono); font-size: 11px; line-height: 17px;
}
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; }
.dot-online { background: var(--online); }
.dot-disconnected { background: var(--disconnected); }
.dot-offline { background: var(--offline); }
.dot-pending { background: var(--disconnected); }
.dot-revoked { background: var(--revoked); }

/* Sparklines and charts */
.spark { overflow: visible; }
.spark-base { stroke: var(--line); stroke-width: 1; }
.spark-line { fill: none; stroke-width: 1.4; stroke-linejoin: round; }
.spark-area { stroke: none; opacity: 0.13; }
.spark-cpu .spark-line { stroke: var(--cpu); }
.spark-cpu .spark-area, .spark-cpu .spark-dot { fill: var(--cpu); }
.spark-mem .spark-line { stroke: var(--mem); }
.spark-mem .spark-area, .spark-mem .spark-dot { fill: var(--mem); }

.chart { display: block; overflow: visible; }
.chart .grid { stroke: var(--line-soft); stroke-width: 1; }
.chart .axis { stroke: var(--line); stroke-width: 1; }
.chart .tick { fill: var(--muted); font-size: 10px; font-variant-numeric: tabular-nums; }
.chart .empty { fill: var(--muted); font-size: 12px; }
.chart .line { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
.chart .area { stroke: none; opacity: 0.1; }
.series-cpu { stroke: var(--cpu); fill: var(--cpu); }
.series-mem { stroke: var(--mem); fill: var(--mem); }
.series-rx { stroke: var(--rx); fill: var(--rx); }
.series-tx { stroke: var(--tx); fill: var(--tx); }
.series-d0 { stroke: #0f766e; fill: #0f766e; }
.series-d1 { stroke: #ca8a04; fill: #ca8a04; }
.series-d2 { stroke: #9333ea; fill: #9333ea; }
.series-d3 { stroke: #e11d48; fill: #e11d48; }
.series-d4 { stroke: #2563eb; fill: #2563eb; }
.series-d5 { stroke: #65a30d; fill: #65a30d; }
.series-dx { stroke: var(--muted); fill: var(--muted); }
.chart .line { fill: none; }
.swatch { display: inline-block; width: 9px; height: 9px; border-radius: 2px; }
.swatch.series-rx { background: var(--rx); }
.swatch.series-tx { background: var(--tx); }
.swatch.series-d0 { background: #0f766e; }
.swatch.series-d1 { background: #ca8a04; }
.swatch.series-d2 { background: #9333ea; }
.swatch.series-d3 { background: #e11d48; }
.swatch.series-d4 { background: #2563eb; }
.swatch.series-d5 { background: #65a30d; }
.swatch.series-dx { background: var(--muted); }
.bar { vertical-align: middle; }
.bar-track { fill: var(--line-soft); }
.bar-ok { fill: var(--ok); }
.bar-warn { fill: var(--warn); }
.bar-danger { fill: var(--danger); }

/* Agent page */
.back { font-size: 12px; }
.title-row { display: flex; align-items: center; gap: 10px; }
.subtitle { margin: 2px 0 0; font-size: 12px; }
.agent-grid { display: grid; grid-template-columns: minmax(0, 5fr) minmax(0, 6fr); gap: 12px; align-items: start; }
.facts { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 14px; margin: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
.facts.compact { margin-top: 6px; font-size: 12.5px; }
.actions { display: flex; flex-direction: column; gap: 10px; }
.actions > h2 { margin-bottom: 0; }
.action { border-top: 1px solid var(--line-soft); padding-top: 8px; }
.action:first-of-type { border-top: 0; padding-top: 0; }
.action-row { display: flex; align-items: center; gap: 8px; }
.action-row .file { width: 150px; font-family: var(--mono); font-size: 12px; }
.action-row .tail { width: 90px; }
.action-row .argv { flex: 1; font-family: var(--mono); font-size: 12px; }
.hint { margin: 4px 0 0; }
.result:empty { display: none; }
.result { margin-top: 6px; }
.request-line { margin: 0; font-size: 12px; color: var(--muted); }
.request-line .badge { margin-right: 2px; }
.problem { margin-top: 6px; padding: 7px 10px; border-radius: 5px; background: #fdecec; border: 1px solid #f5c2c2; color: #8f1414; }
.problem.refused { background: #fff4e5; border-color: #f3cf96; color: #7a3e00; }
.waiting { margin: 0; display: flex; align-items: center; gap: 7px; }
.spinner {
  width: 11px; height: 11px; border-radius: 50%; border: 2px solid var(--line); border-top-color: var(--accent);
  animation: spin 0.8s linear infinite;
}
@keyframes spin { to { transform: rotate(360deg); } }
.output {
  margin: 3px 0 0; padding: 6px 8px; max-height: 220px; overflow: auto; background: #f7f8fa; border: 1px solid var(--line-soft);
  border-radius: 4px; font-family: var(--mono); font-size: 11.5px; line-height: 1.4; white-space: pre-wrap; overflow-wrap: anywhere;
}
.output.stderr { color: #8f1414; }
.output:empty::after { content: "(empty)"; color: var(--muted); }
.output.log { max-height: 300px; }
.exit { margin: 6px 0 4px; }
.stream-label { font-size: 11px; color: var(--muted); margin-top: 4px; text-transform: uppercase; letter-spacing: 0.04em; }
.log-meta { margin: 6px 0 0; }
.download { font-weight: 600; }

.charts { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; }
.chart-card { padding: 8px 10px 6px; overflow: hidden; }
.chart-card .chart { width: 100%; height: 110px; }
.agent-grid.details { grid-template-columns: repeat(2, minmax(0, 1fr)); }
.disk-list { margin-top: 6px; display: flex; flex-direction: column; gap: 2px; }
.disk-row { display: grid; grid-template-columns: 10px minmax(40px, 1fr) 90px 50px 130px; gap: 8px; align-items: center; font-size: 12px; }
.disk-row .mount { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.small-table { width: 100%; border-collapse: collapse; margin-top: 6px; font-size: 12px; }
.small-table th, .small-table td { padding: 1px 6px; border-bottom: 1px solid var(--line-soft); text-align: left; white-space: nowrap; }
.small-table th { color: var(--muted); font-weight: 600; }
.small-table .num { text-align: right; }

/* Events column */
.feed { border-left: 1px solid var(--line); background: #fafbfc; display: flex; flex-direction: column; min-height: 0; }
.feed-head { display: flex; align-items: center; justify-content: space-between; padding: 12px 12px 0; }
.toggle { display: flex; align-items: center; gap: 4px; color: var(--muted); font-size: 12px; cursor: pointer; }
.feed-counts { margin: 2px 12px 6px; font-size: 12px; }
.feed-hint { margin: 0 12px 8px; font-size: 12px; }
.feed-list { list-style: none; margin: 0; padding: 0 0 12px; overflow-y: auto; flex: 1; }
.event { display: grid; grid-template-columns: 56px minmax(0, 1fr); column-gap: 6px; padding: 4px 12px; border-top: 1px solid var(--line-soft); font-size: 12px; }
.ev-time { color: var(--muted); font-variant-numeric: tabular-nums; grid-row: span 2; }
.ev-type { font-weight: 600; font-family: var(--mono); font-size: 11px; }
.ev-text { overflow-wrap: anywhere; color: var(--text); }
.ev-online .ev-type, .ev-completed .ev-type { color: var(--online); }
.ev-disconnected .ev-type, .ev-pending .ev-type, .ev-dispatched .ev-type { color: var(--disconnected); }
.ev-offline .ev-type, .ev-failed .ev-type, .ev-firing .ev-type { color: var(--offline); }
.ev-revoked .ev-type { color: var(--revoked); }
.ev-resolved .ev-type { color: var(--online); }
.ev-metrics .ev-type, .ev-reset .ev-type { color: var(--muted); }

"""#
        ),
    ]
}
