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
