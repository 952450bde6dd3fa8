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
