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
