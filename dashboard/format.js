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
