// The whole journey per user, as in a real sale: join, poll until ACTIVE (honouring
// pollAfterMs), list schedules and seats, hold 1-2 seats (re-list and retry on 409), charge,
// pay, read the order, and pay again with the same Idempotency-Key (same payment back).
// Sold out is a normal ending: the user leaves the queue so the room goes to the next.
//
// Env: GATEWAY_URL, API_URL, ADMIN_TOKEN (creates the concert) or CONCERT_ID, USERS (300),
// VUS (50), SEATS (50 per schedule), SCHEDULES (2), PRICE, ADMIT_PER_TICK, TICK_MILLIS,
// MAX_ACTIVE, SESSION_TTL_SECONDS, ADMIT_DEADLINE (s, 120), RUN_ID.
// Fails (non-zero exit) on any 5xx or more than 1% unexpected answers.
import http from "k6/http";
import { sleep } from "k6";
import { Counter, Rate, Trend } from "k6/metrics";
import { API, GATEWAY, JSON_HEADERS, RUN, bearer, concert, summary } from "./common.js";

export const options = {
  scenarios: {
    journey: {
      executor: "shared-iterations",
      vus: Number(__ENV.VUS || 50),
      iterations: Number(__ENV.USERS || 300),
      maxDuration: __ENV.MAX_DURATION || "10m",
    },
  },
  thresholds: {
    unexpected_answers: ["rate<0.01"],
    server_errors: ["count==0"],
    "http_req_duration{step:join}": ["p(95)<500"],
    "http_req_duration{step:hold}": ["p(95)<1000"],
    "http_req_duration{step:pay}": ["p(95)<1000"],
  },
  summaryTrendStats: ["p(50)", "p(95)", "p(99)", "max"],
};

const admitted = new Counter("admitted");
const held = new Counter("held");
const paid = new Counter("paid");
const soldOut = new Counter("sold_out");
const conflicts = new Counter("hold_conflicts");
const serverErrors = new Counter("server_errors");
const unexpected = new Rate("unexpected_answers");
const admission = new Trend("time_to_admission_ms", true);
const ADMIT_DEADLINE_MS = Number(__ENV.ADMIT_DEADLINE || 120) * 1000;

// Records whether `res` is one of the expected statuses.
function expect(res, statuses, what) {
  const ok = statuses.includes(res.status);
  unexpected.add(!ok);
  if (res.status >= 500 || res.status === 0) serverErrors.add(1);
  if (!ok) console.warn(`${what}: unexpected ${res.status} ${String(res.body).slice(0, 200)}`);
  return ok;
}

function pick(list, n) {
  const copy = list.slice();
  const out = [];
  while (out.length < n && copy.length) out.push(copy.splice(Math.floor(Math.random() * copy.length), 1)[0]);
  return out;
}

export function setup() {
  return { concertId: concert() };
}

export default function (data) {
  const cid = data.concertId;
  const user = `k6-${RUN}-${__VU}-${__ITER}`;
  let res = http.post(`${GATEWAY}/api/v1/queue/tokens`, JSON.stringify({ userId: user, concertId: cid }),
    { headers: JSON_HEADERS, tags: { step: "join" } });
  if (!expect(res, [200, 201], "join")) return;
  const queueToken = res.json("queueToken");
  const leave = () => http.del(`${GATEWAY}/api/v1/queue/tokens`, null, { headers: bearer(queueToken), tags: { step: "leave" } });
  let status = res.json();
  const started = Date.now();
  while (status.status === "WAITING") {
    if (Date.now() - started > ADMIT_DEADLINE_MS) {
      unexpected.add(true);
      console.warn(`${user}: not admitted within the deadline`);
      leave();
      return;
    }
    sleep(status.pollAfterMs / 1000);
    res = http.get(`${GATEWAY}/api/v1/queue/status`, { headers: bearer(queueToken), tags: { step: "status" } });
    if (!expect(res, [200], "status")) return;
    status = res.json();
  }
  if (status.status !== "ACTIVE") {
    expect({ status: 299, body: `status ${status.status}` }, [200], "admission");
    return;
  }
  admitted.add(1);
  admission.add(Date.now() - started);
  const auth = { headers: bearer(status.accessToken) };

  res = http.get(`${API}/api/v1/concerts/${cid}/schedules`, Object.assign({ tags: { step: "schedules" } }, auth));
  if (!expect(res, [200], "schedules")) return;
  let schedules = res.json("schedules").filter((s) => s.availableSeats > 0).map((s) => s.scheduleId);
  let reservation = null;
  for (let attempt = 0; attempt < 6 && schedules.length && !reservation; attempt++) {
    const scheduleId = pick(schedules, 1)[0];
    res = http.get(`${API}/api/v1/concerts/${cid}/schedules/${scheduleId}/seats`, Object.assign({ tags: { step: "seats" } }, auth));
    if (!expect(res, [200], "seats")) return;
    const free = res.json("seats").filter((s) => s.status === "AVAILABLE").map((s) => s.seatId);
    if (!free.length) {
      schedules = schedules.filter((s) => s !== scheduleId);
      continue;
    }
    const seatIds = pick(free, 1 + Math.floor(Math.random() * 2));
    res = http.post(`${API}/api/v1/reservations`, JSON.stringify({ scheduleId, seatIds }), Object.assign({ tags: { step: "hold" } }, auth));
    if (res.status === 409 && res.json("code") === "SEAT_UNAVAILABLE") {
      unexpected.add(false);
      conflicts.add(1);
      continue; // someone was faster: re-list and retry
    }
    if (!expect(res, [201], "hold")) return;
    reservation = res.json();
  }
  if (!reservation) {
    soldOut.add(1);
    leave();
    return;
  }
  held.add(1);

  res = http.post(`${API}/api/v1/balance/charge`, JSON.stringify({ amount: reservation.totalPrice }),
    { headers: Object.assign({ "Idempotency-Key": `${user}-charge` }, auth.headers), tags: { step: "charge" } });
  if (!expect(res, [200], "charge")) return;

  const payKey = `${user}-pay`;
  const pay = () => http.post(`${API}/api/v1/payments`, JSON.stringify({ reservationId: reservation.reservationId }),
    { headers: Object.assign({ "Idempotency-Key": payKey }, auth.headers), tags: { step: "pay" } });
  res = pay();
  if (!expect(res, [201], "pay")) return;
  const paymentId = res.json("paymentId");
  paid.add(1);

  res = http.get(`${API}/api/v1/reservations/${reservation.reservationId}`, Object.assign({ tags: { step: "order" } }, auth));
  if (expect(res, [200], "order") && res.json("status") !== "CONFIRMED") expect({ status: 299, body: res.body }, [200], "order status");

  res = pay(); // a retry with the same key returns the same payment
  if (expect(res, [201], "pay again") && res.json("paymentId") !== paymentId) {
    expect({ status: 299, body: "a different payment came back" }, [201], "idempotent replay");
  }
}

export function handleSummary(data) {
  return summary("ticket-open: the whole journey per user", data);
}
