// An open-model storm of joins with unique users: constant arrival RATE per second for
// DURATION, or ramping through STAGES ("rate:duration,rate:duration", e.g. "500:30s,2000:1m").
// Env: GATEWAY_URL, ADMIN_TOKEN (creates a paused concert) or CONCERT_ID, RATE (500),
// DURATION (30s), STAGES, VUS (200, pre-allocated), MAX_VUS (2000), RUN_ID.
import http from "k6/http";
import { Counter, Rate } from "k6/metrics";
import { GATEWAY, JSON_HEADERS, RUN, concert, summary } from "./common.js";

const stages = (__ENV.STAGES || "").split(",").filter(Boolean).map((s) => {
  const [target, duration] = s.split(":");
  return { target: Number(target), duration };
});
const base = { preAllocatedVUs: Number(__ENV.VUS || 200), maxVUs: Number(__ENV.MAX_VUS || 2000), timeUnit: "1s" };

export const options = {
  scenarios: {
    joins: stages.length
      ? Object.assign({ executor: "ramping-arrival-rate", startRate: stages[0].target, stages }, base)
      : Object.assign({ executor: "constant-arrival-rate", rate: Number(__ENV.RATE || 500), duration: __ENV.DURATION || "30s" }, base),
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    "http_req_duration{step:join}": ["p(99)<100"],
  },
  summaryTrendStats: ["p(50)", "p(95)", "p(99)", "max"],
};

const joined = new Counter("joined");
const refused = new Rate("refused");

export function setup() {
  // Paused by default: the line only grows, as at the opening minute of a sale.
  return { concertId: concert({ paused: true, maxActive: 1, admitPerTick: 1 }) };
}

export default function (data) {
  const res = http.post(`${GATEWAY}/api/v1/queue/tokens`,
    JSON.stringify({ userId: `storm-${RUN}-${__VU}-${__ITER}`, concertId: data.concertId }),
    { headers: JSON_HEADERS, tags: { step: "join" } });
  refused.add(res.status !== 201);
  if (res.status === 201) joined.add(1);
}

export function handleSummary(data) {
  return summary("join-storm: arrivals per second", data);
}
