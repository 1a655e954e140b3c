// Shared by the k6 scenarios: settings from the environment, the concert to load (given or
// created), signing in and joining, small HTTP helpers, and a compact text summary for
// handleSummary. Every user signs in before joining: the gateway's development login
// (DEV_LOGIN=1, as scripts/run and scripts/lib.sh start it) gives the identity token.
//
// Env read here: GATEWAY_URL (http://127.0.0.1:8080), API_URL (http://127.0.0.1:8081),
// GATEWAY_URLS, API_URLS (several instances, comma-separated),
// ADMIN_TOKEN, CONCERT_ID, SCHEDULES, SEATS, PRICE, ADMIT_PER_TICK, TICK_MILLIS, MAX_ACTIVE,
// SESSION_TTL_SECONDS, PAUSED, RUN_ID, SUMMARY_JSON (also write k6's raw summary there).
import http from "k6/http";

// GATEWAY_URLS / API_URLS (comma-separated) spread the requests over several instances, round
// robin per request as a load balancer would (each VU starts at its own instance); GATEWAY
// and API are the first of each.
const urls = (list, one, fallback) => (__ENV[list] || __ENV[one] || fallback).split(",")
  .map((u) => u.trim().replace(/\/+$/, "")).filter(Boolean);
const GATEWAYS = urls("GATEWAY_URLS", "GATEWAY_URL", "http://127.0.0.1:8080");
const APIS = urls("API_URLS", "API_URL", "http://127.0.0.1:8081");
export const GATEWAY = GATEWAYS[0];
export const API = APIS[0];
let turn = typeof __VU === "number" ? __VU : 0;
// The instance for the next request.
export function gw() {
  return GATEWAYS[turn++ % GATEWAYS.length];
}
export function api() {
  return APIS[turn++ % APIS.length];
}
export const JSON_HEADERS = { "Content-Type": "application/json" };

// A number from the environment, or `fallback` when unset or empty.
export function envNum(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got "${raw}"`);
  return n;
}

export function envBool(name, fallback) {
  const raw = (__ENV[name] || "").toLowerCase();
  if (raw === "") return fallback;
  return raw === "1" || raw === "true" || raw === "yes";
}

// The prefix of every user id of this run, so runs never collide. Call it in setup() only and
// pass it to the VUs through the setup data: Date.now() differs between VUs' init contexts.
// User ids are 1..64 characters of [A-Za-z0-9_-], so the prefix is cleaned and kept short.
export function runId() {
  const raw = __ENV.RUN_ID || `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  const clean = raw.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 32);
  if (!clean) throw new Error("RUN_ID must contain characters of [A-Za-z0-9_-]");
  return clean;
}

export function bearer(token, extra) {
  return Object.assign({ Authorization: `Bearer ${token}` }, JSON_HEADERS, extra || {});
}

// POST /api/v1/dev/login: the gateway's development login signs an identity token for
// `userId` (the gateway runs with DEV_LOGIN=1). Returns the response; `identityToken(res)`
// reads the token from it.
export function signIn(userId, tags) {
  return http.post(`${gw()}/api/v1/dev/login`, JSON.stringify({ userId }),
    { headers: JSON_HEADERS, tags: Object.assign({ step: "login" }, tags || {}) });
}

// The identity token of a dev-login response, or undefined when it has none.
export function identityToken(res) {
  return res.status === 200 ? field(res, "identityToken") : undefined;
}

// The request that joins `concertId` as the holder of `idToken` (the user is its subject),
// for http.batch; `join` sends it.
export function joinRequest(idToken, concertId, tags) {
  return {
    method: "POST",
    url: `${gw()}/api/v1/queue/tokens`,
    body: JSON.stringify({ concertId }),
    params: { headers: bearer(idToken), tags: Object.assign({ step: "join" }, tags || {}) },
  };
}

export function join(idToken, concertId, tags) {
  const r = joinRequest(idToken, concertId, tags);
  return http.post(r.url, r.body, r.params);
}

// Identity tokens of `userIds`, signed in BATCH at a time with http.batch (for setup());
// a user whose sign-in failed gets undefined (a few are logged).
export function signInAll(userIds, batch) {
  const tokens = [];
  let failed = 0;
  for (let start = 0; start < userIds.length; start += batch) {
    const requests = userIds.slice(start, start + batch).map((userId) => ({
      method: "POST",
      url: `${gw()}/api/v1/dev/login`,
      body: JSON.stringify({ userId }),
      params: { headers: JSON_HEADERS, tags: { step: "login" } },
    }));
    for (const res of http.batch(requests)) {
      const token = identityToken(res);
      if (!token && failed++ < 5) console.warn(`sign-in: ${res.status} ${String(res.body).slice(0, 200)}`);
      tokens.push(token);
    }
  }
  return tokens;
}

// A field of a JSON body, or undefined when the body is not JSON (never throws).
export function field(res, path) {
  try {
    return res.json(path);
  } catch (_) {
    return undefined;
  }
}

// Seconds to wait before retrying a 429/503, from Retry-After (capped), else `fallback`.
export function retryAfter(res, fallback) {
  const v = Number(res.headers["Retry-After"]);
  return Number.isFinite(v) && v >= 0 ? Math.min(v, 10) : fallback;
}

// The queue settings from the environment over the scenario's defaults.
function queueSettings(d) {
  return {
    admitPerTick: envNum("ADMIT_PER_TICK", d.admitPerTick),
    tickMillis: envNum("TICK_MILLIS", d.tickMillis),
    maxActive: envNum("MAX_ACTIVE", d.maxActive),
    sessionTtlSeconds: envNum("SESSION_TTL_SECONDS", d.sessionTtlSeconds),
    paused: envBool("PAUSED", d.paused),
  };
}

const QUEUE_ENV = ["ADMIT_PER_TICK", "TICK_MILLIS", "MAX_ACTIVE", "SESSION_TTL_SECONDS", "PAUSED"];

// The concert of the run (call from setup()):
// - CONCERT_ID when set; its queue settings are changed only when ADMIN_TOKEN and at least one
//   of ADMIT_PER_TICK, TICK_MILLIS, MAX_ACTIVE, SESSION_TTL_SECONDS, PAUSED are set (the PUT
//   takes every field, so the unset ones get the scenario's defaults);
// - otherwise a new concert made with ADMIN_TOKEN: SCHEDULES schedules of SEATS seats at PRICE,
//   its queue set from the environment over the scenario's defaults.
// Returns { concertId, created, settings (null when left as they were) }.
export function concert(defaults) {
  const d = Object.assign({ schedules: 2, seats: 50, price: 10000, admitPerTick: 50, tickMillis: 200,
    maxActive: 200, sessionTtlSeconds: 120, paused: false }, defaults || {});
  const admin = __ENV.ADMIN_TOKEN;
  let concertId = envNum("CONCERT_ID", 0);
  let created = false;
  let seats = 0;
  if (!concertId) {
    if (!admin) throw new Error("set CONCERT_ID, or ADMIN_TOKEN so that the scenario can create a concert");
    const schedules = [];
    const count = envNum("SCHEDULES", d.schedules);
    for (let i = 0; i < count; i++) {
      // One evening a week from a fixed future date: valid RFC 3339 for any count.
      const startsAt = new Date(Date.UTC(2030, 0, 5 + 7 * i, 19, 0, 0)).toISOString().replace(".000Z", "Z");
      schedules.push({ startsAt, seatCount: envNum("SEATS", d.seats), price: envNum("PRICE", d.price) });
    }
    const body = { name: `k6 ${__ENV.RUN_ID || new Date().toISOString()}`.slice(0, 200), schedules };
    if (d.opensAt) body.opensAt = d.opensAt;
    seats = count * envNum("SEATS", d.seats);
    const res = http.post(`${API}/api/v1/admin/concerts`, JSON.stringify(body),
      { headers: bearer(admin), tags: { step: "setup" } });
    if (res.status !== 201) throw new Error(`creating the concert: ${res.status} ${res.body}`);
    concertId = res.json("concertId");
    created = true;
  }
  let settings = null;
  if (admin && (created || QUEUE_ENV.some((n) => (__ENV[n] || "") !== ""))) {
    settings = queueSettings(d);
    const res = http.put(`${GATEWAY}/api/v1/admin/queues/${concertId}`, JSON.stringify(settings),
      { headers: bearer(admin), tags: { step: "setup" } });
    if (res.status !== 200) throw new Error(`setting the queue of concert ${concertId}: ${res.status} ${res.body}`);
  }
  console.log(`concert ${concertId}${created ? ` (created${d.opensAt ? `, sale opening ${d.opensAt}` : ""})` : ""}` +
    (settings ? `, queue ${JSON.stringify(settings)}` : ", queue settings unchanged"));
  return { concertId, created, settings, seats };
}

function fmtMs(ms) {
  if (ms === undefined || ms === null) return "-";
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(1)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}

const col = (s, n) => String(s).padEnd(n);
const num = (s, n) => String(s).padStart(n);

// A compact, readable summary for handleSummary: counters and rates, checks, latency per step
// (tagged http_req_duration sub-metrics and custom *_ms trends), and the thresholds' verdict.
export function summary(title, data) {
  const m = data.metrics;
  const lines = ["", `== ${title} ==`];
  const state = data.state || {};
  if (state.testRunDurationMs !== undefined) lines.push(`  ran ${fmtMs(state.testRunDurationMs)}`);
  const skip = (n) => n.startsWith("data_") || n.startsWith("http_req_") && n !== "http_req_failed" ||
    n.startsWith("iteration_duration") || n.startsWith("vus");
  lines.push(`  ${col("metric", 30)} ${num("count", 9)}  ${num("per s", 8)}`);
  for (const name of Object.keys(m).sort()) {
    const metric = m[name];
    if (skip(name)) continue;
    if (metric.type === "counter") {
      lines.push(`  ${col(name, 30)} ${num(metric.values.count, 9)}  ${num(metric.values.rate.toFixed(1), 8)}`);
    } else if (metric.type === "rate") {
      const v = metric.values;
      lines.push(`  ${col(name, 30)} ${num(`${(v.rate * 100).toFixed(2)}%`, 9)}  (${v.passes} of ${v.passes + v.fails})`);
    }
  }
  lines.push("", `  ${col("latency", 30)} ${num("p50", 9)} ${num("p95", 9)} ${num("p99", 9)} ${num("max", 9)} ${num("count", 8)}`);
  for (const name of Object.keys(m).sort()) {
    const metric = m[name];
    if (metric.type !== "trend") continue;
    if (!(name === "http_req_duration" || name.startsWith("http_req_duration{step:") || name.endsWith("_ms"))) continue;
    const v = metric.values;
    const label = name.replace("http_req_duration", "http");
    lines.push(`  ${col(label, 30)} ${num(fmtMs(v["p(50)"] !== undefined ? v["p(50)"] : v.med), 9)} ` +
      `${num(fmtMs(v["p(95)"]), 9)} ${num(fmtMs(v["p(99)"]), 9)} ${num(fmtMs(v.max), 9)} ${num(v.count !== undefined ? v.count : "", 8)}`);
  }
  const verdicts = [];
  for (const name of Object.keys(m).sort()) {
    for (const [expr, t] of Object.entries(m[name].thresholds || {})) {
      verdicts.push(`  ${t.ok ? "ok  " : "FAIL"} ${name}: ${expr}`);
    }
  }
  if (verdicts.length) lines.push("", "  thresholds", ...verdicts);
  const failed = verdicts.filter((l) => l.startsWith("  FAIL")).length;
  lines.push("", failed ? `  RESULT: ${failed} threshold(s) FAILED` : "  RESULT: all thresholds met", "");
  const out = { stdout: lines.join("\n") };
  if (__ENV.SUMMARY_JSON) out[__ENV.SUMMARY_JSON] = JSON.stringify(data, null, 2);
  return out;
}

// Trend statistics every scenario reports (handleSummary reads them).
export const TREND_STATS = ["p(50)", "p(95)", "p(99)", "max", "count"];
