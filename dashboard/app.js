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
