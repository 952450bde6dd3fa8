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
