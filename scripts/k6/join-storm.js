// Join storm: an open-model flood of joins (POST /api/v1/queue/tokens) from unique users, as
// in the opening minute of a sale. Each arrival signs in first (the development login) and
// joins with its identity token; join_ms times the join alone. Arrivals are fixed per second whatever the latency
// (constant-arrival-rate), or follow STAGES (ramping-arrival-rate). The created concert's
// queue is paused by default, so the line only grows (PAUSED=false to admit meanwhile).
// Every join must answer 201; the test fails on more than 1% failed requests or a slow p(99).
//
// Env: GATEWAY_URL (http://127.0.0.1:8080), API_URL (http://127.0.0.1:8081, to create the
//   concert), CONCERT_ID, or ADMIN_TOKEN to create one (SCHEDULES, SEATS, PRICE) and set its
//   queue (ADMIT_PER_TICK, TICK_MILLIS, MAX_ACTIVE, SESSION_TTL_SECONDS, PAUSED=true),
//   RATE (joins/s, 500), DURATION (30s), STAGES ("rate:duration,...", e.g. "500:30s,2000:1m";
//   overrides RATE/DURATION), VUS (pre-allocated, 200), MAX_VUS (2000),
//   P99_MS (join p(99) threshold, 100), RUN_ID (user-id prefix; default from Date.now()),
//   SUMMARY_JSON (file for k6's raw summary).
import { check } from "k6";
import exec from "k6/execution";
import { Counter, Trend } from "k6/metrics";
import { TREND_STATS, concert, envNum, identityToken, join, runId, signIn, summary } from "./common.js";

const stages = (__ENV.STAGES || "").split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
  const [target, duration] = s.split(":");
  if (!duration || !Number.isFinite(Number(target))) throw new Error(`STAGES: "${s}" is not rate:duration`);
  return { target: Number(target), duration };
});
const base = { preAllocatedVUs: envNum("VUS", 200), maxVUs: envNum("MAX_VUS", 2000), timeUnit: "1s" };

export const options = {
  scenarios: {
    joins: stages.length
      ? Object.assign({ executor: "ramping-arrival-rate", startRate: stages[0].target, stages }, base)
      : Object.assign({ executor: "constant-arrival-rate", rate: envNum("RATE", 500), duration: __ENV.DURATION || "30s" }, base),
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
    join_ms: [`p(99)<${envNum("P99_MS", 100)}`],
  },
  summaryTrendStats: TREND_STATS,
};

const joinMs = new Trend("join_ms", true);
const joined = new Counter("joined");
const refused = new Counter("refused");
let warned = 0;

export function setup() {
  // Paused: nobody is admitted, the line only grows.
  const c = concert({ paused: true, admitPerTick: 1, maxActive: 1 });
  return { concertId: c.concertId, run: runId() };
}

export default function (data) {
  // iterationInTest is unique across all VUs of the run.
  const userId = `s-${data.run}-${exec.scenario.iterationInTest}`;
  const login = signIn(userId);
  const token = identityToken(login);
  if (!token) {
    refused.add(1, { status: String(login.status), step: "login" });
    check(login, { "sign-in is 200": () => false });
    if (warned++ < 3) console.warn(`sign-in: ${login.status} ${String(login.body).slice(0, 200)}`);
    return;
  }
  const res = join(token, data.concertId);
  joinMs.add(res.timings.duration);
  const ok = check(res, { "join is 201": (r) => r.status === 201 });
  if (ok) {
    joined.add(1);
  } else {
    refused.add(1, { status: String(res.status) });
    if (warned++ < 3) console.warn(`join: ${res.status} ${String(res.body).slice(0, 200)}`); // a few per VU
  }
}

export function handleSummary(data) {
  return summary("join-storm: joins of unique users at a fixed arrival rate", data);
}
