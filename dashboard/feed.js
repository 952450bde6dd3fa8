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
