// Status poll: a waiting crowd polling GET /api/v1/queue/status the way the waiting-room page
// does. setup() signs in USERS unique users and joins them (both in http.batch batches), and
// keeps their queue tokens;
// the VUs then share the crowd (VU n polls every VUS-th user) and poll each user again only
// after the pollAfterMs of its last answer, counting WAITING / ACTIVE / EXPIRED answers.
// A user whose answer is EXPIRED (or whose token is refused) stops polling. The created
// concert's queue is slow (5 per second, 50 active, 30 s sessions), so most of the crowd waits.
// Fails on more than 1% failed requests or a slow status p(99).
//
// Env: GATEWAY_URL (http://127.0.0.1:8080), API_URL (http://127.0.0.1:8081, to create the
//   concert), CONCERT_ID, or ADMIN_TOKEN to create one (SCHEDULES, SEATS, PRICE) and set its
//   queue (ADMIT_PER_TICK 5, TICK_MILLIS 1000, MAX_ACTIVE 50, SESSION_TTL_SECONDS 30, PAUSED),
//   USERS (crowd size, 1000), BATCH (joins per http.batch in setup, 100), VUS (pollers, 100),
//   DURATION (60s), MIN_POLL_MS (floor of the wait between two polls of one user, 250),
//   P99_MS (status p(99) threshold, 100), RUN_ID (user-id prefix; default from Date.now()),
//   SUMMARY_JSON (file for k6's raw summary).
import http from "k6/http";
import { check, sleep } from "k6";
import { Counter, Trend } from "k6/metrics";
import { GATEWAY, TREND_STATS, bearer, concert, envNum, field, joinRequest, retryAfter, runId, signInAll, summary } from "./common.js";

const USERS = envNum("USERS", 1000);
const VUS = Math.max(1, Math.min(envNum("VUS", 100), USERS));
const BATCH = Math.max(1, envNum("BATCH", 100));
const MIN_POLL_MS = envNum("MIN_POLL_MS", 250);

export const options = {
  scenarios: {
    crowd: { executor: "constant-vus", vus: VUS, duration: __ENV.DURATION || "60s", gracefulStop: "5s" },
  },
  // Signing in and joining a large crowd takes a while.
  setupTimeout: `${Math.max(60, Math.ceil(USERS / 50))}s`,
  thresholds: {
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
    status_ms: [`p(99)<${envNum("P99_MS", 100)}`],
  },
  summaryTrendStats: TREND_STATS,
};

const statusMs = new Trend("status_ms", true);
const seen = {
  WAITING: new Counter("status_waiting"),
  ACTIVE: new Counter("status_active"),
  EXPIRED: new Counter("status_expired"),
};
const refused = new Counter("status_refused");

export function setup() {
  const c = concert({ admitPerTick: 5, tickMillis: 1000, maxActive: 50, sessionTtlSeconds: 30 });
  const run = runId();
  const ids = [];
  for (let i = 0; i < USERS; i++) ids.push(`p-${run}-${i}`);
  const identities = signInAll(ids, BATCH).filter(Boolean);
  const tokens = [];
  let failed = USERS - identities.length;
  for (let start = 0; start < identities.length; start += BATCH) {
    const requests = identities.slice(start, start + BATCH).map((t) => joinRequest(t, c.concertId));
    let throttled = 0;
    for (const res of http.batch(requests)) {
      const token = res.status === 201 || res.status === 200 ? field(res, "queueToken") : undefined;
      if (token) {
        tokens.push(token);
      } else {
        failed++;
        if (failed <= 5) console.warn(`setup join: ${res.status} ${String(res.body).slice(0, 200)}`);
        if (res.status === 429 || res.status === 503) throttled = Math.max(throttled, retryAfter(res, 1));
      }
    }
    if (throttled) sleep(throttled); // shed or rate limited: let the gateway breathe
  }
  console.log(`setup: ${tokens.length} of ${USERS} users signed in and joined concert ${c.concertId} (${failed} refused); ${VUS} VUs poll`);
  if (!tokens.length) throw new Error("no user could join: nothing to poll");
  return { tokens };
}

// This VU's share of the crowd: its tokens and when each may be polled next (ms since epoch).
let mine = null;

function myShare(tokens) {
  const share = [];
  const now = Date.now();
  for (let i = __VU - 1; i < tokens.length; i += VUS) {
    // Spread the first polls over a second, as page loads would be.
    share.push({ token: tokens[i], due: now + Math.random() * 1000 });
  }
  return share;
}

export default function (data) {
  if (mine === null) mine = myShare(data.tokens);
  if (!mine.length) {
    sleep(1); // everyone of this VU has left the room
    return;
  }
  // The user whose next poll is due first.
  let next = 0;
  for (let i = 1; i < mine.length; i++) if (mine[i].due < mine[next].due) next = i;
  const user = mine[next];
  const wait = user.due - Date.now();
  if (wait > 0) sleep(wait / 1000);

  const res = http.get(`${GATEWAY}/api/v1/queue/status`, { headers: bearer(user.token), tags: { step: "status" } });
  statusMs.add(res.timings.duration);
  const status = res.status === 200 ? field(res, "status") : undefined;
  check(res, { "status is 200 with a known status": () => seen[status] !== undefined });
  if (seen[status]) seen[status].add(1);

  if (status === "EXPIRED" || res.status === 401) {
    if (res.status === 401) refused.add(1);
    mine.splice(next, 1); // this user's place or session is gone: stop polling it
    return;
  }
  if (res.status !== 200) {
    user.due = Date.now() + retryAfter(res, 1) * 1000; // 429/503 say when; anything else: 1 s
    return;
  }
  const after = Number(field(res, "pollAfterMs"));
  user.due = Date.now() + Math.max(Number.isFinite(after) ? after : 1000, MIN_POLL_MS);
}

export function handleSummary(data) {
  return summary(`status-poll: ${USERS} waiting users polling as told by pollAfterMs`, data);
}
