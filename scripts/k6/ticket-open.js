// Ticket open: the whole journey of USERS unique users, as in a real sale. Each iteration is
// one new user: sign in (the gateway's development login), join the queue with the identity
// token, poll status until ACTIVE (sleeping pollAfterMs, giving up
// after ADMIT_DEADLINE), list schedules, list the seats of a random schedule with seats left,
// hold 1-2 random AVAILABLE seats (on 409 SEAT_UNAVAILABLE list again and retry), charge the
// balance with the total price, pay (Idempotency-Key), read the reservation (CONFIRMED), and
// pay again with the same key (the same paymentId must come back).
// Sold out is a normal ending, not an error: the user leaves the queue, freeing the room.
// Retries: 429 / 503 (after Retry-After) and 409 IDEMPOTENCY_IN_PROGRESS on the idempotent
// steps (join, status, reads, charge and pay, which carry an Idempotency-Key).
// Fails (k6 exits non-zero) on any 5xx or request without an answer, on any wrong answer
// (reservation not CONFIRMED after payment, another paymentId on replay, amount differing
// from the hold's total), on 1% or more unexpected answers, or on slow p(95) latencies.
// Under injected faults (scripts/faults) MAX_SERVER_ERRORS and MAX_UNEXPECTED_RATE loosen the
// first and third bounds and P95_MS the last; wrong answers always fail the run.
//
// Env: GATEWAY_URL (http://127.0.0.1:8080), API_URL (http://127.0.0.1:8081), CONCERT_ID, or
//   ADMIN_TOKEN to create a concert of SCHEDULES (2) x SEATS (50) seats at PRICE (10000) and
//   set its queue: ADMIT_PER_TICK (50), TICK_MILLIS (200), MAX_ACTIVE (200),
//   SESSION_TTL_SECONDS (120), PAUSED (false); with CONCERT_ID those are applied only if set.
//   USERS (iterations = users, 300), VUS (50), MAX_DURATION (10m), ADMIT_DEADLINE (s, 120),
//   ARRIVAL_SECONDS (when set, the USERS arrive evenly over that many seconds instead of VUS
//   at a time, VUS then being the pre-allocated ones), MAX_SERVER_ERRORS (0),
//   MAX_UNEXPECTED_RATE (0.01), RETRIES (per request, 5), REDIS_LOSS (1 when the run loses
//   Redis's data on purpose: a user whose place comes back EXPIRED is counted in lost_places
//   and as an unexpected answer instead of a wrong one),
//   HOLD_RETRIES (conflicts tolerated per user, 5), P95_MS (booking steps' p(95) threshold,
//   1000; gateway steps get half), RUN_ID (user-id prefix; default from Date.now()),
//   SUMMARY_JSON (file for k6's raw summary).
import http from "k6/http";
import { check, sleep } from "k6";
import exec from "k6/execution";
import { Counter, Rate, Trend } from "k6/metrics";
import { API, GATEWAY, TREND_STATS, bearer, concert, envNum, field, identityToken, join, retryAfter, runId, signIn, summary } from "./common.js";

const USERS = envNum("USERS", 300);
const VUS = Math.max(1, Math.min(envNum("VUS", 50), USERS));
const ADMIT_DEADLINE_MS = envNum("ADMIT_DEADLINE", 120) * 1000;
const HOLD_RETRIES = envNum("HOLD_RETRIES", 5);
const RETRIES = envNum("RETRIES", 5); // per request, for 429 / 503 / no answer / IDEMPOTENCY_IN_PROGRESS
const P95 = envNum("P95_MS", 1000);

const ARRIVAL_SECONDS = envNum("ARRIVAL_SECONDS", 0);

export const options = {
  scenarios: {
    journey: ARRIVAL_SECONDS > 0
      // Exactly USERS arrivals, spread evenly over ARRIVAL_SECONDS whatever the answers take.
      ? { executor: "constant-arrival-rate", rate: USERS, timeUnit: `${ARRIVAL_SECONDS}s`,
        duration: `${ARRIVAL_SECONDS}s`, preAllocatedVUs: VUS, maxVUs: Math.max(VUS, USERS),
        gracefulStop: `${Math.ceil(ADMIT_DEADLINE_MS / 1000) + 60}s` }
      : { executor: "shared-iterations", vus: VUS, iterations: USERS, maxDuration: __ENV.MAX_DURATION || "10m" },
  },
  thresholds: {
    unexpected_errors: [`rate<${envNum("MAX_UNEXPECTED_RATE", 0.01)}`],
    server_errors: [`count<=${envNum("MAX_SERVER_ERRORS", 0)}`],
    wrong_answers: ["count==0"],
    "http_req_duration{step:login}": [`p(95)<${P95 / 2}`],
    "http_req_duration{step:join}": [`p(95)<${P95 / 2}`],
    "http_req_duration{step:status}": [`p(95)<${P95 / 2}`],
    "http_req_duration{step:schedules}": [`p(95)<${P95}`],
    "http_req_duration{step:seats}": [`p(95)<${P95}`],
    "http_req_duration{step:hold}": [`p(95)<${P95}`],
    "http_req_duration{step:charge}": [`p(95)<${P95}`],
    "http_req_duration{step:pay}": [`p(95)<${P95}`],
  },
  summaryTrendStats: TREND_STATS,
};

const admitted = new Counter("admitted");
const held = new Counter("held");
const paid = new Counter("paid");
const soldOut = new Counter("sold_out");
const lostPlaces = new Counter("lost_places"); // EXPIRED while waiting, after Redis lost its data (REDIS_LOSS=1)
const REDIS_LOSS = envNum("REDIS_LOSS", 0) === 1;
const conflicts = new Counter("conflicts"); // 409 SEAT_UNAVAILABLE: someone was faster
const gaveUp = new Counter("gave_up"); // not admitted within ADMIT_DEADLINE, or too many conflicts
const retried = new Counter("retried"); // 429 / 503 / IDEMPOTENCY_IN_PROGRESS answered by a retry
const serverErrors = new Counter("server_errors"); // 5xx, or no answer at all
const wrongAnswers = new Counter("wrong_answers"); // an expected status with a wrong body
const unexpected = new Rate("unexpected_errors"); // per final answer: not one the journey expects
const admissionMs = new Trend("time_to_admission_ms", true);
const journeyMs = new Trend("admission_to_payment_ms", true);

let warned = 0;
function warn(msg) {
  if (warned++ < 5) console.warn(msg); // a few per VU, not a flood
}

// Sends `request()` (again on 429, 503, no answer, IDEMPOTENCY_IN_PROGRESS when `retry`),
// records the final answer against `expected(res)`, and returns it when expected, else null.
function send(step, request, expected, retry) {
  for (let attempt = 0; ; attempt++) {
    const res = request();
    if (res.status >= 500 || res.status === 0) serverErrors.add(1, { step });
    const again = res.status === 429 || res.status === 503 || res.status === 0 ||
      (res.status === 409 && field(res, "code") === "IDEMPOTENCY_IN_PROGRESS");
    if (retry && again && attempt < RETRIES) {
      retried.add(1, { step });
      sleep(retryAfter(res, 0.5));
      continue;
    }
    const ok = expected(res);
    unexpected.add(!ok, { step });
    check(res, { [`${step}: expected answer`]: () => ok });
    if (!ok) warn(`${step}: unexpected ${res.status} ${String(res.body).slice(0, 200)}`);
    return ok ? res : null;
  }
}

const is = (...statuses) => (res) => statuses.includes(res.status);

// A wrong body behind an expected status: fails the run (wrong_answers threshold).
function wrong(step, msg) {
  wrongAnswers.add(1, { step });
  unexpected.add(true, { step });
  check(null, { [`${step}: right answer`]: () => false });
  warn(`${step}: ${msg}`);
}

function pick(list, n) {
  const copy = list.slice();
  const out = [];
  while (out.length < n && copy.length) out.push(copy.splice(Math.floor(Math.random() * copy.length), 1)[0]);
  return out;
}

export function setup() {
  const c = concert();
  return { concertId: c.concertId, run: runId() };
}

export default function (data) {
  const cid = data.concertId;
  const user = `t-${data.run}-${exec.scenario.iterationInTest}`;

  // 1. Sign in, join with the identity token, and wait for admission.
  let res = send("login", () => signIn(user), is(200), true);
  if (!res) return;
  const idToken = identityToken(res);
  if (!idToken) {
    wrong("login", `${user}: the sign-in answered no identityToken`);
    return;
  }
  res = send("join", () => join(idToken, cid), is(200, 201), true);
  if (!res) return;
  const queueToken = field(res, "queueToken");
  const queueAuth = { headers: bearer(queueToken) };
  const leave = () => send("leave", () => http.del(`${GATEWAY}/api/v1/queue/tokens`, null,
    Object.assign({ tags: { step: "leave" } }, queueAuth)), is(204), true);
  let place = res.json();
  const joinedAt = Date.now();
  while (place.status === "WAITING") {
    const left = joinedAt + ADMIT_DEADLINE_MS - Date.now();
    if (left <= 0) {
      gaveUp.add(1);
      unexpected.add(true, { step: "admission" });
      warn(`${user}: not admitted within ${ADMIT_DEADLINE_MS / 1000}s`);
      leave();
      return;
    }
    sleep(Math.min(Math.max(Number(place.pollAfterMs) || 1000, 100), left) / 1000);
    res = send("status", () => http.get(`${GATEWAY}/api/v1/queue/status`,
      Object.assign({ tags: { step: "status" } }, queueAuth)), is(200), true);
    if (!res) return;
    place = res.json();
  }
  if (place.status !== "ACTIVE" || !place.accessToken) {
    if (REDIS_LOSS && place.status === "EXPIRED") {
      lostPlaces.add(1);
      unexpected.add(true, { step: "admission" });
      warn(`${user}: lost the place (EXPIRED) after Redis lost its data`);
      return;
    }
    wrong("admission", `${user}: left the line as ${place.status} without an access token`);
    return;
  }
  const admittedAt = Date.now();
  admitted.add(1);
  admissionMs.add(admittedAt - joinedAt);
  const auth = bearer(place.accessToken);
  const get = (step, url, name) => send(step, () => http.get(url, { headers: auth, tags: { step, name } }), is(200), true);

  // 2. Schedules, seats, and a hold of 1-2 random available seats.
  res = get("schedules", `${API}/api/v1/concerts/${cid}/schedules`, "GET /concerts/{id}/schedules");
  if (!res) return leave();
  let open = (field(res, "schedules") || []).filter((s) => s.availableSeats > 0).map((s) => s.scheduleId);
  let reservation = null;
  let lost = 0;
  while (!reservation && open.length && lost <= HOLD_RETRIES) {
    const scheduleId = pick(open, 1)[0];
    res = get("seats", `${API}/api/v1/concerts/${cid}/schedules/${scheduleId}/seats`, "GET /concerts/{id}/schedules/{id}/seats");
    if (!res) return leave();
    const free = (field(res, "seats") || []).filter((s) => s.status === "AVAILABLE").map((s) => s.seatId);
    if (!free.length) {
      open = open.filter((s) => s !== scheduleId); // nothing left here: try another schedule
      continue;
    }
    const seatIds = pick(free, 1 + Math.floor(Math.random() * 2));
    // Not retried on 5xx: a hold that went through but lost its answer would make the retry 409 HOLD_EXISTS.
    res = send("hold", () => http.post(`${API}/api/v1/reservations`, JSON.stringify({ scheduleId, seatIds }),
      { headers: auth, tags: { step: "hold" }, responseCallback: http.expectedStatuses(201, 409) }),
    (r) => r.status === 201 || (r.status === 409 && field(r, "code") === "SEAT_UNAVAILABLE"), false);
    if (!res) return leave();
    if (res.status === 409) {
      conflicts.add(1);
      lost++;
      continue; // someone was faster: list again and retry
    }
    reservation = res.json();
  }
  if (!reservation) {
    if (open.length) {
      gaveUp.add(1); // seats are left, but every try lost the race
    } else {
      soldOut.add(1); // a normal ending of a sale
    }
    leave();
    return;
  }
  held.add(1);
  const release = () => send("release", () => http.del(`${API}/api/v1/reservations/${reservation.reservationId}`, null,
    { headers: auth, tags: { step: "release", name: "DELETE /reservations/{id}" } }), is(200, 404, 409), true);

  // 3. Money in, then pay with an Idempotency-Key.
  if (reservation.totalPrice > 0) {
    // An account endpoint: the identity token does (so would the access token).
    res = send("charge", () => http.post(`${API}/api/v1/balance/charge`, JSON.stringify({ amount: reservation.totalPrice }),
      { headers: bearer(idToken, { "Idempotency-Key": `${user}-charge` }), tags: { step: "charge" } }), is(200), true);
    if (!res) {
      release();
      return leave();
    }
  }
  const pay = (step) => send(step, () => http.post(`${API}/api/v1/payments`, JSON.stringify({ reservationId: reservation.reservationId }),
    { headers: bearer(place.accessToken, { "Idempotency-Key": `${user}-pay` }), tags: { step } }), is(201), true);
  res = pay("pay");
  if (!res) {
    release();
    return leave();
  }
  const paymentId = field(res, "paymentId");
  paid.add(1);
  journeyMs.add(Date.now() - admittedAt);
  if (field(res, "amount") !== reservation.totalPrice) {
    wrong("pay", `payment ${paymentId}: amount ${field(res, "amount")} but the hold's total is ${reservation.totalPrice}`);
  }

  // 4. The order is confirmed (read with the identity token: the session ended with the
  // payment), and paying again with the same key replays the same payment.
  res = send("order", () => http.get(`${API}/api/v1/reservations/${reservation.reservationId}`,
    { headers: bearer(idToken), tags: { step: "order", name: "GET /reservations/{id}" } }), is(200), true);
  if (res && field(res, "status") !== "CONFIRMED") {
    wrong("order", `reservation ${reservation.reservationId} is ${field(res, "status")} after payment ${paymentId}`);
  }
  res = pay("pay_again");
  if (res && field(res, "paymentId") !== paymentId) {
    wrong("pay_again", `the same Idempotency-Key answered payment ${field(res, "paymentId")}, first ${paymentId}`);
  }
}

export function handleSummary(data) {
  const pace = ARRIVAL_SECONDS > 0 ? `arriving over ${ARRIVAL_SECONDS}s` : `${VUS} at a time`;
  return summary(`ticket-open: ${USERS} users, ${pace}, sign-in to payment`, data);
}
