// A large waiting crowd polling status the way the page does: each VU holds one place in line
// and polls after the server's pollAfterMs, counting WAITING / ACTIVE / EXPIRED answers.
// Env: GATEWAY_URL, ADMIN_TOKEN (creates a slow queue) or CONCERT_ID, USERS (= VUs, 1000),
// DURATION (60s), RUN_ID.
import http from "k6/http";
import { sleep } from "k6";
import { Counter } from "k6/metrics";
import { GATEWAY, JSON_HEADERS, RUN, bearer, concert, summary } from "./common.js";

export const options = {
  scenarios: {
    crowd: { executor: "constant-vus", vus: Number(__ENV.USERS || 1000), duration: __ENV.DURATION || "60s" },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    "http_req_duration{step:status}": ["p(99)<100"],
  },
  summaryTrendStats: ["p(50)", "p(95)", "p(99)", "max"],
};

const seen = {
  WAITING: new Counter("status_waiting"),
  ACTIVE: new Counter("status_active"),
  EXPIRED: new Counter("status_expired"),
};

export function setup() {
  // A slow queue, so most of the crowd waits for the whole run.
  return { concertId: concert({ admitPerTick: 5, tickMillis: 1000, maxActive: 50, sessionTtlSeconds: 30 }) };
}

let token = null;

export default function (data) {
  if (token === null) {
    const res = http.post(`${GATEWAY}/api/v1/queue/tokens`,
      JSON.stringify({ userId: `poll-${RUN}-${__VU}`, concertId: data.concertId }),
      { headers: JSON_HEADERS, tags: { step: "join" } });
    if (res.status !== 201 && res.status !== 200) {
      sleep(1);
      return;
    }
    token = res.json("queueToken");
    sleep(Math.random() * (res.json("pollAfterMs") / 1000)); // spread the first polls
    return;
  }
  const res = http.get(`${GATEWAY}/api/v1/queue/status`, { headers: bearer(token), tags: { step: "status" } });
  if (res.status !== 200) {
    sleep(1);
    return;
  }
  const body = res.json();
  if (seen[body.status]) seen[body.status].add(1);
  sleep(Math.max(body.pollAfterMs, 1000) / 1000);
}

export function handleSummary(data) {
  return summary("status-poll: a waiting crowd", data);
}
