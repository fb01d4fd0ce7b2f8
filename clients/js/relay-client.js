// relay-client.js: the browser client of the relay (one ES module, no build step, no dependencies).
//
// The relay serves this file at /client.js:
//
//   import { subscribe, append, records } from "/client.js";
//
//   const sub = subscribe("chat_1234", {
//     channel: "out",                       // "out" (default) or "in"
//     token: publicAccessToken,             // from POST /api/v1/sessions
//     onRecord: (data, record) => show(data),            // data records, in order, once each
//     onControl: (control, record) => {                  // control records (turn-complete, ...)
//       if (control.subtype === "turn-complete") enableInput();
//     },
//     onStatus: (status, info) => badge(status, info.lastEventId),
//   });
//   await append("chat_1234", "in", { type: "user-message", text: "hi" }, { token: sub.token });
//   sub.close();
//
// subscribe(session, options) follows a channel over Server-Sent Events (EventSource):
//   - options: channel ("out"), token (a public access token, sent as ?token= because
//     EventSource cannot send headers), lastEventId (resume after this id; default: the start of
//     the retained window), timeoutSeconds (the relay's idle timeout, 1-600, default 600),
//     baseUrl (default "": the page's origin), onRecord(data, record), onControl(control, record),
//     onStatus(status, info), onGap({requested, firstAvailable}), onLost({after, before}) (records
//     in that range may have been lost with a Redis primary: drop any you hold; see docs/API.md,
//     History guarantees), getToken() (optional, async: asked
//     for a fresh token when the relay refuses the current one with 401), minDelayMs / maxDelayMs
//     (reconnect backoff, default 250 / 15000).
//   - onRecord gets `data` (the record's JSON value) and the whole record {data, id}.
//   - onControl gets {subtype, headers: {name: value}, id} and the record {data: null, id, headers}.
//   - A turn-complete control record's `public-access-token` replaces the token: every later
//     request of this subscription (reconnects included) uses it. `sub.token` is the current one.
//   - Statuses: "connecting" (the first attempt), "live" (a stream is open), "reconnecting" (the
//     stream ended or failed: the client waits, then resumes), "ended" (for good: close(), the
//     session was closed or expired, or the relay refused the subscription). info carries
//     {lastEventId, attempt} and, for "ended", {reason, error}. No handler runs before subscribe()
//     has returned.
//   - Every reconnect builds a new URL with the current token and ?lastEventId= of the last record
//     seen, so nothing is lost or repeated across idle timeouts, token expiry, node drains and
//     crashes (EventSource's own reconnect would reuse the first URL: it is never used). Before
//     reconnecting the client reads the session row: a closed or expired session is drained to its
//     end (records()) and the subscription ends; 401 (after getToken), 403 and 404 end it too;
//     network errors and 5xx are retried with exponential backoff and jitter.
//   - Returns {close(), token, lastEventId, status}.
//
// append(session, channel, data, options) appends one record and resolves to
// {seq, duplicate, partId, attempts}:
//   - data: a string is sent as it is; anything else as JSON.stringify(data).
//   - options: token (Authorization: Bearer; a public token may append to "in" only), partId
//     (X-Part-Id; default: a random UUID, so that retries are always safe), retries (default 5),
//     minDelayMs / maxDelayMs (backoff, 250 / 5000), baseUrl, signal (an AbortSignal).
//   - Network errors, 408, 429 and 5xx (503 while a node drains) are retried with the same
//     X-Part-Id: the relay appends the record at most once and answers a retry of a record it
//     already has with its first seq and duplicate: true. Retry-After is honoured.
//   - Other failures reject with a RelayError {status, message, body}.
//
// records(session, channel, options) drains a channel: {records: [...], hasMore}. options:
// afterEventId (default 0), limit (1-1000), token, baseUrl, retries, signal. Page forward with the
// last record's id as afterEventId while hasMore is true.
//
// createClient(defaults) returns {subscribe, append, records} with `defaults` (baseUrl, token, ...)
// merged under each call's options.

/** A failed request: `status` is the HTTP status (0: no answer), `body` the parsed error body. */
export class RelayError extends Error {
  constructor(message, status = 0, body = null, cause = undefined) {
    super(message);
    this.name = "RelayError";
    this.status = status;
    this.body = body;
    if (cause !== undefined) this.cause = cause;
  }
}

function channelPath(session, channel) {
  if (channel !== "in" && channel !== "out") throw new TypeError(`channel must be "in" or "out", not ${channel}`);
  return `/realtime/v1/sessions/${encodeURIComponent(session)}/${channel}`;
}

function joinUrl(baseUrl, path, query) {
  const base = (baseUrl || "").replace(/\/+$/, "");
  const parts = [];
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") {
      parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`);
    }
  }
  return base + path + (parts.length ? `?${parts.join("&")}` : "");
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      if (signal) signal.removeEventListener("abort", aborted);
      resolve();
    }
    function aborted() {
      clearTimeout(timer);
      reject(signal.reason);
    }
    if (signal) signal.addEventListener("abort", aborted, { once: true });
  });
}

/** Exponential backoff with full jitter over the upper half: attempt 0 waits about minDelayMs. */
function backoff(attempt, minDelayMs, maxDelayMs) {
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function randomPartId() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === "function") return globalThis.crypto.randomUUID();
  let id = "";
  for (let i = 0; i < 4; i++) id += Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, "0");
  return id;
}

async function readBody(response) {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

function errorFromResponse(response, body) {
  const message = body && typeof body === "object" && body.error ? body.error : `HTTP ${response.status}`;
  return new RelayError(message, response.status, body);
}

const retryableStatus = (status) => status === 408 || status === 429 || status >= 500;

/**
 * One request with bounded retries: network errors and retryable statuses are tried again after a
 * backoff (at least Retry-After). Resolves to {response, body, attempts} for any other answer.
 */
async function requestWithRetry(url, init, options) {
  const retries = options.retries ?? 5;
  const minDelayMs = options.minDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 5000;
  const fetchImpl = options.fetch || globalThis.fetch.bind(globalThis);
  let lastError;
  for (let attempt = 0; ; attempt++) {
    let wait = backoff(attempt, minDelayMs, maxDelayMs);
    try {
      const response = await fetchImpl(url, { ...init, signal: options.signal });
      const body = await readBody(response);
      if (!retryableStatus(response.status)) return { response, body, attempts: attempt + 1 };
      lastError = errorFromResponse(response, body);
      const retryAfter = Number(response.headers.get("Retry-After"));
      if (retryAfter > 0) wait = Math.max(wait, Math.min(retryAfter * 1000, maxDelayMs));
    } catch (error) {
      if (options.signal && options.signal.aborted) throw error;
      lastError = error instanceof RelayError ? error : new RelayError(`Network error: ${error && error.message}`, 0, null, error);
    }
    if (attempt >= retries) {
      lastError.attempts = attempt + 1;
      throw lastError;
    }
    await sleep(wait, options.signal);
  }
}

function authHeaders(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** Appends one record; retries with the same X-Part-Id. Resolves to {seq, duplicate, partId, attempts}. */
export async function append(session, channel, data, options = {}) {
  const partId = options.partId ?? randomPartId();
  const body = typeof data === "string" ? data : JSON.stringify(data);
  const headers = { ...authHeaders(options.token), "Content-Type": typeof data === "string" ? "text/plain;charset=UTF-8" : "application/json", "X-Part-Id": partId };
  const url = joinUrl(options.baseUrl, channelPath(session, channel) + "/append");
  const { response, body: answer, attempts } = await requestWithRetry(url, { method: "POST", headers, body }, options);
  if (!response.ok || !answer || answer.ok !== true) throw errorFromResponse(response, answer);
  return { seq: answer.seq, duplicate: answer.duplicate === true, partId, attempts };
}

/** Drains records after `afterEventId`: {records, hasMore}. */
export async function records(session, channel, options = {}) {
  const url = joinUrl(options.baseUrl, channelPath(session, channel) + "/records",
                      { afterEventId: options.afterEventId ?? 0, limit: options.limit });
  const { response, body } = await requestWithRetry(url, { method: "GET", headers: authHeaders(options.token) }, options);
  if (!response.ok) throw errorFromResponse(response, body);
  return body;
}

function controlOf(record) {
  const pairs = Array.isArray(record.headers) ? record.headers : [];
  const headers = {};
  for (const [name, value] of pairs) if (!(name in headers)) headers[name] = value;
  return { subtype: headers["trigger-control"] ?? null, headers, id: record.id };
}

/** Follows a channel over SSE; see the top of this file. Returns {close(), token, lastEventId, status}. */
export function subscribe(session, options = {}) {
  const channel = options.channel ?? "out";
  const path = channelPath(session, channel);
  const minDelayMs = options.minDelayMs ?? 250;
  const maxDelayMs = options.maxDelayMs ?? 15000;
  const EventSourceImpl = options.EventSource || globalThis.EventSource;
  const fetchImpl = options.fetch || globalThis.fetch.bind(globalThis);
  let token = options.token ?? null;
  let lastEventId = options.lastEventId == null || options.lastEventId === "" ? null : Number(options.lastEventId);
  let status = null;
  let source = null;
  let timer = null;
  let attempt = 0;
  let closed = false;

  const call = (handler, ...args) => {
    if (typeof handler !== "function") return;
    try {
      handler(...args);
    } catch (error) {
      setTimeout(() => { throw error; });  // reported, and the subscription goes on
    }
  };

  function setStatus(next, extra = {}) {
    if (status === next && next !== "reconnecting") return;
    status = next;
    call(options.onStatus, next, { lastEventId, attempt, ...extra });
  }

  function end(reason, error) {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    if (source) source.close();
    source = null;
    setStatus("ended", { reason, error });
  }

  function accept(record) {
    if (record.lost && typeof record.id !== "number") return true;  // a past-the-end notice
    if (typeof record.id !== "number") return false;
    if (lastEventId !== null && record.id <= lastEventId) return false;  // never twice
    lastEventId = record.id;
    return true;
  }

  // A loss signal (event: lost, or a loss marker in a drain): records after `after` and before
  // `before` may have been lost with a Redis primary; drop any you hold in that range. A signal
  // without an id says the resume point was past the channel's end: go on from `after`.
  function lost(signal) {
    const range = signal && signal.lost;
    if (!range || typeof range.after !== "number" || typeof range.before !== "number") return;
    if (typeof signal.id !== "number" && lastEventId !== null && range.after < lastEventId) {
      lastEventId = range.after;
    }
    call(options.onLost, { after: range.after, before: range.before });
  }

  function deliver(record) {
    if (record.lost) return lost(record);
    if (record.data === null && Array.isArray(record.headers)) {
      const control = controlOf(record);
      if (control.subtype === "turn-complete" && control.headers["public-access-token"]) {
        token = control.headers["public-access-token"];
      }
      call(options.onControl, control, record);
    } else {
      call(options.onRecord, record.data, record);
    }
  }

  function connect() {
    if (closed) return;
    const url = joinUrl(options.baseUrl, path, { token, lastEventId, timeoutSeconds: options.timeoutSeconds ?? 600 });
    const es = new EventSourceImpl(url);
    source = es;
    es.onopen = () => {
      if (source !== es) return;
      attempt = 0;
      setStatus("live");
    };
    const onEvent = (event) => {
      if (source !== es) return;
      let record;
      try {
        record = JSON.parse(event.data);
      } catch {
        return;
      }
      if (accept(record)) deliver(record);
    };
    es.onmessage = onEvent;
    es.addEventListener("control", onEvent);
    es.addEventListener("lost", onEvent);
    es.addEventListener("gap", (event) => {
      if (source !== es) return;
      try {
        call(options.onGap, JSON.parse(event.data));
      } catch { /* a malformed gap event changes nothing */ }
    });
    es.onerror = () => {
      if (source !== es) return;
      // The stream ended (idle timeout, token expiry, drain, close) or failed (network, crash, an
      // HTTP error). Never let EventSource reconnect by itself: its URL has a stale token and id.
      es.close();
      source = null;
      reconnect();
    };
  }

  function reconnect() {
    if (closed) return;
    setStatus("reconnecting");
    const delay = attempt === 0 ? Math.round(Math.random() * minDelayMs) : backoff(attempt, minDelayMs, maxDelayMs);
    attempt++;
    clearTimeout(timer);
    timer = setTimeout(() => { check().catch(() => reconnect()); }, delay);
  }

  // Reads the session row before reconnecting: a closed session is drained and ends the
  // subscription, refusals end it, anything transient goes back to the backoff.
  async function check() {
    if (closed) return;
    let response = await fetchImpl(joinUrl(options.baseUrl, `/api/v1/sessions/${encodeURIComponent(session)}`),
                                   { headers: authHeaders(token) });
    if (response.status === 401 && typeof options.getToken === "function") {
      const fresh = await options.getToken();
      if (closed) return;
      if (fresh) {
        token = fresh;
        response = await fetchImpl(joinUrl(options.baseUrl, `/api/v1/sessions/${encodeURIComponent(session)}`),
                                   { headers: authHeaders(token) });
      }
    }
    if (closed) return;
    const body = await readBody(response);
    if (retryableStatus(response.status)) return reconnect();
    if (!response.ok) return end(response.status === 401 ? "unauthorized" : response.status === 404 ? "not found" : "refused",
                                 errorFromResponse(response, body));
    // The session is readable; ask the stream itself (HEAD: same parameters and checks, no
    // body) whether it would be refused, since EventSource never shows a refusal's status.
    const probe = await fetchImpl(joinUrl(options.baseUrl, path, { token, lastEventId, timeoutSeconds: options.timeoutSeconds ?? 600 }),
                                  { method: "HEAD" });
    if (closed) return;
    if (retryableStatus(probe.status)) return reconnect();
    if (!probe.ok) return end(probe.status === 401 ? "unauthorized" : probe.status === 404 ? "not found" : "refused",
                              new Error(`the stream was refused with ${probe.status}`));
    if (body && (body.status === "CLOSED" || body.status === "EXPIRED")) {
      for (;;) {
        const page = await records(session, channel, { baseUrl: options.baseUrl, token, afterEventId: lastEventId ?? 0,
                                                      fetch: options.fetch });
        if (closed) return;
        if (page.lost) lost({ lost: page.lost });
        for (const record of page.records || []) if (accept(record)) deliver(record);
        if (!page.hasMore || !(page.records || []).length) break;
      }
      return end(body.status === "CLOSED" ? "session closed" : "session expired");
    }
    connect();
  }

  // The first status is reported after subscribe() returns (a microtask), so that handlers may
  // use the subscription object; status reads "connecting" at once.
  status = "connecting";
  queueMicrotask(() => { if (!closed) call(options.onStatus, "connecting", { lastEventId, attempt }); });
  connect();

  return {
    close() { end("closed"); },
    get token() { return token; },
    get lastEventId() { return lastEventId; },
    get status() { return status; },
  };
}

/** {subscribe, append, records} with `defaults` merged under every call's options. */
export function createClient(defaults = {}) {
  return {
    subscribe: (session, options = {}) => subscribe(session, { ...defaults, ...options }),
    append: (session, channel, data, options = {}) => append(session, channel, data, { ...defaults, ...options }),
    records: (session, channel, options = {}) => records(session, channel, { ...defaults, ...options }),
  };
}
