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
