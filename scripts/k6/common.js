// Shared by the k6 scenarios: settings from the environment, concert set-up, a readable summary.
import http from "k6/http";

export const GATEWAY = __ENV.GATEWAY_URL || "http://127.0.0.1:8080";
export const API = __ENV.API_URL || "http://127.0.0.1:8081";
export const RUN = __ENV.RUN_ID || `${Date.now()}`;
export const JSON_HEADERS = { "Content-Type": "application/json" };

function bearer(token) {
  return Object.assign({ Authorization: `Bearer ${token}` }, JSON_HEADERS);
}
export { bearer };

// The concert to use: CONCERT_ID, or a new one created with ADMIN_TOKEN (SCHEDULES x SEATS at
// PRICE). With ADMIN_TOKEN, the queue is set from ADMIT_PER_TICK, TICK_MILLIS, MAX_ACTIVE,
// SESSION_TTL_SECONDS and PAUSED.
export function concert(defaults) {
  const d = Object.assign({ seats: 50, schedules: 2, price: 10000, admitPerTick: 50, tickMillis: 200,
    maxActive: 200, sessionTtlSeconds: 120, paused: false }, defaults || {});
  const admin = __ENV.ADMIN_TOKEN;
  let concertId = Number(__ENV.CONCERT_ID || 0);
  if (!concertId) {
    if (!admin) throw new Error("set CONCERT_ID, or ADMIN_TOKEN so the scenario can create a concert");
    const seats = Number(__ENV.SEATS || d.seats);
    const schedules = [];
    for (let i = 0; i < Number(__ENV.SCHEDULES || d.schedules); i++) {
      schedules.push({ startsAt: `2027-0${1 + (i % 9)}-15T19:00:00Z`, seatCount: seats, price: Number(__ENV.PRICE || d.price) });
    }
    const res = http.post(`${API}/api/v1/admin/concerts`, JSON.stringify({ name: `k6 ${RUN}`, schedules }), { headers: bearer(admin) });
    if (res.status !== 201) throw new Error(`creating the concert: ${res.status} ${res.body}`);
    concertId = res.json("concertId");
  }
  if (admin) {
    const settings = {
      admitPerTick: Number(__ENV.ADMIT_PER_TICK || d.admitPerTick),
      tickMillis: Number(__ENV.TICK_MILLIS || d.tickMillis),
      maxActive: Number(__ENV.MAX_ACTIVE || d.maxActive),
      sessionTtlSeconds: Number(__ENV.SESSION_TTL_SECONDS || d.sessionTtlSeconds),
      paused: (__ENV.PAUSED || String(d.paused)) === "true",
    };
    const res = http.put(`${GATEWAY}/api/v1/admin/queues/${concertId}`, JSON.stringify(settings), { headers: bearer(admin) });
    if (res.status !== 200) throw new Error(`setting the queue: ${res.status} ${res.body}`);
  }
  return concertId;
}

function fmt(ms) {
  return ms === undefined ? "-" : ms < 1 ? `${(ms * 1000).toFixed(0)}µs` : `${ms.toFixed(1)}ms`;
}

// A compact, readable summary: counters, rates, and latency per step.
export function summary(title, data) {
  const m = data.metrics;
  const lines = [`\n== ${title} ==`];
  for (const [name, metric] of Object.entries(m)) {
    if (metric.type === "counter" && !name.startsWith("data_") && name !== "iterations") {
      lines.push(`  ${name.padEnd(28)} ${metric.values.count}  (${metric.values.rate.toFixed(1)}/s)`);
    }
    if (metric.type === "rate") lines.push(`  ${name.padEnd(28)} ${(metric.values.rate * 100).toFixed(2)}%`);
  }
  if (m.iterations) lines.push(`  ${"iterations".padEnd(28)} ${m.iterations.values.count}`);
  lines.push("  latency                       p50       p95       p99       max");
  for (const [name, metric] of Object.entries(m)) {
    if (metric.type !== "trend" || !(name.startsWith("http_req_duration") || name.endsWith("_ms"))) continue;
    const v = metric.values;
    lines.push(`  ${name.replace("http_req_duration", "http").padEnd(28)} ${fmt(v["p(50)"]).padStart(8)}  ${fmt(v["p(95)"]).padStart(8)}  ${fmt(v["p(99)"]).padStart(8)}  ${fmt(v.max).padStart(8)}`);
  }
  const failed = Object.entries(m).filter(([, metric]) => metric.thresholds && Object.values(metric.thresholds).some((t) => !t.ok));
  lines.push(failed.length ? `  THRESHOLDS FAILED: ${failed.map(([n]) => n).join(", ")}` : "  all thresholds met");
  return { stdout: lines.join("\n") + "\n" };
}
