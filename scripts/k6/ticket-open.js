// Ticket open: the whole sale, as in a real one, with USERS unique users. Each user signs in
// (the gateway's development login), joins the queue with the identity token, and polls status
// (sleeping pollAfterMs, at most MAX_POLL_MS) until ACTIVE or SOLD_OUT; admitted, they list
// schedules, list the seats of a random schedule with seats left, hold 1-2 random AVAILABLE
// seats (on 409 SEAT_UNAVAILABLE list again and retry), charge the balance with the total
// price, pay (Idempotency-Key), read the reservation (CONFIRMED), and pay again with the same
// key (the same paymentId must come back). Every GREEDY_EVERY-th buyer then joins again and
// tries to buy more: past MAX_TICKETS_PER_USER the api's 409 TICKET_LIMIT is an expected answer.
//
// The pre-queue: a concert with a sale opening (created here with OPENS_IN, or given as
// CONCERT_ID with its `opensAt` ahead) has PRE_QUEUE_USERS early users, one VU each, who
// arrive spread over the time before the opening and get PRE_QUEUE (no position). At the
// opening the gateway draws them into a random order; each one's next status answers WAITING
// (or ACTIVE) with a new queueToken, used from then on; each checks that its entrant id,
// SHA-256("<concertId>:<userId>"), is in the published draw (GET /api/v1/queue/{id}/draw) at a
// place no better than the position it was given. The other users arrive after the opening
// (VUS at a time, or over ARRIVAL_SECONDS) and queue first come, first served.
// The run goes on until sold out: a user still in line when the last seat sells is told
// SOLD_OUT by status (or by the join's 409 SOLD_OUT), counted in told_sold_out, a normal end;
// an admitted user who finds every seat sold or held leaves (no_seat_left).
// At the end (teardown): the published draw is checked (SHA-256(seed) = commitment, every key
// recomputed, ascending, no entrant twice: what scripts/verify-draw does); with a sale that
// must sell out (EXPECT_SOLD_OUT, on with a pre-queue) the queue's stats say SOLD_OUT; and
// every user's tickets (GET /api/v1/tickets) say nobody owns more than MAX_TICKETS_PER_USER of
// the concert, no seat is sold twice and, when the seat count is known (the concert created
// here, or TOTAL_SEATS), every seat is sold exactly once.
// Retries: 429 / 503 (after Retry-After) and 409 IDEMPOTENCY_IN_PROGRESS on the idempotent
// steps (join, status, reads, charge and pay, which carry an Idempotency-Key).
// Fails (k6 exits non-zero) on any 5xx or request without an answer, on any wrong answer
// (reservation not CONFIRMED after payment, another paymentId on replay, amount differing
// from the hold's total, a pre-queue token not replaced after the draw, a draw that does not
// check out, a user over the ticket limit, a seat sold twice or left unsold), on 1% or more
// unexpected answers, or on slow p(95) latencies.
// Under injected faults (scripts/faults) MAX_SERVER_ERRORS and MAX_UNEXPECTED_RATE loosen the
// first and third bounds and P95_MS the last; wrong answers always fail the run.
//
// Env: GATEWAY_URL (http://127.0.0.1:8080), API_URL (http://127.0.0.1:8081), or GATEWAY_URLS and
//   API_URLS (several instances, comma-separated, requests spread round robin), CONCERT_ID, or
//   ADMIN_TOKEN to create a concert of SCHEDULES (2) x SEATS (50) seats at PRICE (10000) whose
//   sale opens OPENS_IN seconds after setup (0: no pre-queue, open at once) and set its queue:
//   ADMIT_PER_TICK (50), TICK_MILLIS (200), MAX_ACTIVE (200), SESSION_TTL_SECONDS (120),
//   PAUSED (false); with CONCERT_ID those are applied only if set.
//   USERS (users in all, 300), PRE_QUEUE_USERS (of them, the early ones: default 100 when the
//   script creates a concert with OPENS_IN, else 0), VUS (50, for the others), MAX_DURATION
//   (10m), ADMIT_DEADLINE (s, 120), MAX_POLL_MS (longest sleep between two polls, 3000: the
//   gateway asks a line that waits for held seats to poll every 5-30 s, too slow for a short
//   run), ARRIVAL_SECONDS (when set, the later users arrive evenly over that many seconds
//   instead of VUS at a time, VUS then being the pre-allocated ones), GREEDY_EVERY (5; 0:
//   nobody buys twice), MAX_TICKETS_PER_USER (4, as the api's default), TOTAL_SEATS (the
//   concert's seats, when given as CONCERT_ID: checks that every seat is sold),
//   EXPECT_SOLD_OUT (1 with a pre-queue, else 0), MAX_SERVER_ERRORS (0),
//   MAX_UNEXPECTED_RATE (0.01), RETRIES (per request, 5), REDIS_LOSS (1 when the run loses
//   Redis's data on purpose: a user whose place comes back EXPIRED is counted in lost_places
//   and as an unexpected answer instead of a wrong one),
//   HOLD_RETRIES (conflicts tolerated per user, 5), P95_MS (booking steps' p(95) threshold,
//   1000; gateway steps get half), RUN_ID (user-id prefix; default from Date.now()),
//   SUMMARY_JSON (file for k6's raw summary), ADMISSION_LOG (1: log each admission as a line
//   `ADMITTED {user, seq, expiresAt, joinedAt}` for scripts/check-admissions).
import http from "k6/http";
import crypto from "k6/crypto";
import encoding from "k6/encoding";
import { check, sleep } from "k6";
import exec from "k6/execution";
import { Counter, Rate, Trend } from "k6/metrics";
import { JSON_HEADERS, api, gw, TREND_STATS, bearer, concert, envNum, field, identityToken, join, retryAfter, runId, signIn, summary } from "./common.js";

const USERS = envNum("USERS", 300);
const OPENS_IN = envNum("OPENS_IN", 0);
const CREATES = !envNum("CONCERT_ID", 0);
const EARLY = Math.max(0, Math.min(envNum("PRE_QUEUE_USERS", CREATES && OPENS_IN > 0 ? 100 : 0), USERS));
const LATE = USERS - EARLY;
const VUS = Math.max(1, Math.min(envNum("VUS", 50), Math.max(LATE, 1)));
const ADMIT_DEADLINE_MS = envNum("ADMIT_DEADLINE", 120) * 1000;
const HOLD_RETRIES = envNum("HOLD_RETRIES", 5);
const RETRIES = envNum("RETRIES", 5); // per request, for 429 / 503 / no answer / IDEMPOTENCY_IN_PROGRESS
const P95 = envNum("P95_MS", 1000);
const MAX_POLL_MS = envNum("MAX_POLL_MS", 3000);
const GREEDY_EVERY = envNum("GREEDY_EVERY", 5);
const MAX_TICKETS = envNum("MAX_TICKETS_PER_USER", 4);
const ADMISSION_LOG = envNum("ADMISSION_LOG", 0) === 1;

const ARRIVAL_SECONDS = envNum("ARRIVAL_SECONDS", 0);
const MAX_DURATION = __ENV.MAX_DURATION || "10m";

const scenarios = {};
if (EARLY > 0) {
  // One VU per early user: everyone in the pre-queue polls at once, as fans at an opening do.
  scenarios.pre_queue = { executor: "per-vu-iterations", vus: EARLY, iterations: 1, maxDuration: MAX_DURATION,
    exec: "earlyUser" };
}
if (LATE > 0) {
  scenarios.journey = ARRIVAL_SECONDS > 0
    // Exactly LATE arrivals, spread evenly over ARRIVAL_SECONDS whatever the answers take.
    ? { executor: "constant-arrival-rate", rate: LATE, timeUnit: `${ARRIVAL_SECONDS}s`,
      duration: `${ARRIVAL_SECONDS}s`, preAllocatedVUs: VUS, maxVUs: Math.max(VUS, LATE),
      gracefulStop: `${Math.ceil(ADMIT_DEADLINE_MS / 1000) + 60}s`, exec: "lateUser" }
    : { executor: "shared-iterations", vus: VUS, iterations: LATE, maxDuration: MAX_DURATION, exec: "lateUser" };
}

export const options = {
  scenarios,
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
  setupTimeout: "120s",
  teardownTimeout: "180s",
};

const admitted = new Counter("admitted");
const held = new Counter("held");
const paid = new Counter("paid");
const toldSoldOut = new Counter("told_sold_out"); // in line (or joining) when the last seat sold: SOLD_OUT
const noSeatLeft = new Counter("no_seat_left"); // admitted, but every seat was sold or held
const preQueued = new Counter("pre_queued"); // joined before the opening: PRE_QUEUE
const missedPreQueue = new Counter("missed_pre_queue"); // an early user who joined after the opening
const drawnTokens = new Counter("drawn_tokens"); // pre-queue tokens replaced after the draw
const drawPlaces = new Counter("draw_places_checked"); // entrant ids found in the published draw
const drawChecked = new Counter("draw_verified"); // the whole published draw checked out (teardown)
const ticketLimit = new Counter("ticket_limit"); // 409 TICKET_LIMIT: a buyer past MAX_TICKETS_PER_USER
const secondBuys = new Counter("second_buys"); // buyers who joined again and bought within the limit
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
const soldOutMs = new Trend("join_to_sold_out_ms", true);

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
const problem = (status, code) => (res) => res.status === status && field(res, "code") === code;
const either = (...tests) => (res) => tests.some((t) => t(res));

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

// --- The draw, as scripts/verify-draw checks it. ---

function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

const HEX64 = /^[0-9a-f]{64}$/;

// SHA-256(utf8("<concertId>:<userId>")), hex.
export function entrantId(concertId, userId) {
  return crypto.sha256(`${concertId}:${userId}`, "hex");
}

// SHA-256(seed bytes || entrant id bytes), hex (hex strings of one length sort as the bytes do).
function drawKey(seed, idHex) {
  const buf = new Uint8Array(64);
  buf.set(seed, 0);
  buf.set(hexBytes(idHex), 32);
  return crypto.sha256(buf.buffer, "hex");
}

// The problems of a published draw (none: it checks out).
export function drawProblems(draw) {
  const problems = [];
  if (!draw || draw.drawn !== true) return ["not drawn"];
  if (!HEX64.test(draw.seed || "") || !HEX64.test(draw.commitment || "")) return ["seed or commitment is not 64 hex"];
  const seed = hexBytes(draw.seed);
  if (crypto.sha256(seed.buffer, "hex") !== draw.commitment) problems.push("SHA-256(seed) is not the commitment");
  const seen = {};
  let prev = null;
  (draw.entrants || []).forEach((id, i) => {
    if (!HEX64.test(id)) {
      problems.push(`entrant ${i + 1} is not 64 hex`);
      return;
    }
    if (seen[id]) problems.push(`entrant ${id} is listed twice`);
    seen[id] = true;
    const key = drawKey(seed, id) + id;
    if (prev !== null && !(prev < key)) problems.push(`places ${i} and ${i + 1} are out of order`);
    prev = key;
  });
  return problems;
}

function getDraw(cid) {
  return send("draw", () => http.get(`${gw()}/api/v1/queue/${cid}/draw`, { tags: { step: "draw" } }), is(200), true);
}

// --- Setup. ---

export function setup() {
  const opensAt = CREATES && OPENS_IN > 0 ? new Date(Date.now() + OPENS_IN * 1000).toISOString() : undefined;
  const c = concert({ opensAt });
  let opensAtMs = 0;
  const res = http.get(`${gw()}/api/v1/queue/${c.concertId}/draw`, { tags: { step: "setup" } });
  if (res.status === 200 && res.json("drawn") === false) opensAtMs = Date.parse(res.json("opensAt"));
  if (EARLY > 0 && !(opensAtMs > Date.now())) {
    console.warn(`concert ${c.concertId} has no sale opening ahead: the ${EARLY} early users arrive into an open line`);
  }
  const totalSeats = c.created ? c.seats : envNum("TOTAL_SEATS", 0);
  console.log(`run: ${EARLY} users in the pre-queue` + (opensAtMs ? ` (opens ${new Date(opensAtMs).toISOString()})` : "") +
    `, ${LATE} after the opening; ${totalSeats || "?"} seats`);
  return { concertId: c.concertId, run: runId(), opensAtMs, setupEndMs: Date.now(), totalSeats };
}

function sleepUntil(ms) {
  const left = ms - Date.now();
  if (left > 0) sleep(left / 1000);
}

// An early user: arrives at its slot of the time before the opening (the last 1.5 s left out).
export function earlyUser(data) {
  const i = exec.scenario.iterationInTest;
  if (data.opensAtMs) {
    const window = Math.max(0, data.opensAtMs - 1500 - data.setupEndMs);
    sleepUntil(data.setupEndMs + (window * i) / EARLY);
  }
  buyer(data, `e-${data.run}-${i}`, true);
}

// A later user: arrives after the opening.
export function lateUser(data) {
  if (data.opensAtMs) sleepUntil(data.opensAtMs + 200);
  buyer(data, `t-${data.run}-${exec.scenario.iterationInTest}`, false);
}

// --- One user. ---

function buyer(data, user, early) {
  let res = send("login", () => signIn(user), is(200), true);
  if (!res) return;
  const idToken = identityToken(res);
  if (!idToken) {
    wrong("login", `${user}: the sign-in answered no identityToken`);
    return;
  }
  const bought = session(data, user, idToken, early, 0);
  // A greedy buyer comes back for more: within the limit it buys, past it the api says 409
  // TICKET_LIMIT (or the sale has sold out meanwhile).
  if (bought > 0 && GREEDY_EVERY > 0 && (exec.scenario.iterationInTest % GREEDY_EVERY) === 0) {
    session(data, user, idToken, false, bought);
  }
}

// Joins, waits and buys once; returns the number of seats bought.
function session(data, user, idToken, early, owned) {
  const cid = data.concertId;
  let res = send("join", () => join(idToken, cid), either(is(200, 201), problem(409, "SOLD_OUT")), true);
  if (!res) return 0;
  const joinedAt = Date.now();
  if (res.status === 409) {
    toldSoldOut.add(1, { where: "join" });
    soldOutMs.add(0);
    return 0;
  }
  let queueToken = field(res, "queueToken");
  let place = res.json();
  const preQueue = place.status === "PRE_QUEUE";
  if (preQueue) {
    preQueued.add(1);
    if (place.position) wrong("join", `${user}: a pre-queue entry answered position ${place.position}`);
    if (!place.opensAt) wrong("join", `${user}: a pre-queue entry answered no opensAt`);
  } else if (early && !owned && data.opensAtMs) {
    missedPreQueue.add(1);
  }
  const leave = () => send("leave", () => http.del(`${gw()}/api/v1/queue/tokens`, null,
    { headers: bearer(queueToken), tags: { step: "leave" } }), is(204), true);
  let drawnPosition = 0;
  while (place.status === "WAITING" || place.status === "PRE_QUEUE") {
    // The pre-queue waits for the opening, then the line until admission or sold out.
    const left = joinedAt + ADMIT_DEADLINE_MS + (place.status === "PRE_QUEUE" ? ADMIT_DEADLINE_MS : 0) - Date.now();
    if (left <= 0) {
      gaveUp.add(1);
      unexpected.add(true, { step: "admission" });
      warn(`${user}: not admitted within ${ADMIT_DEADLINE_MS / 1000}s (${place.status})`);
      leave();
      return 0;
    }
    sleep(Math.min(Math.max(Number(place.pollAfterMs) || 1000, 100), MAX_POLL_MS, left) / 1000);
    const token = queueToken;
    res = send("status", () => http.get(`${gw()}/api/v1/queue/status`,
      { headers: bearer(token), tags: { step: "status" } }), is(200), true);
    if (!res) return 0;
    const was = place.status;
    place = res.json();
    if (place.queueToken) {
      // Drawn: the pre-queue token gives way to the place's.
      if (was !== "PRE_QUEUE" && !preQueue) wrong("status", `${user}: a new queueToken outside the draw`);
      queueToken = place.queueToken;
      drawnTokens.add(1);
      if (place.status === "WAITING") drawnPosition = Number(place.position);
    } else if (preQueue && was === "PRE_QUEUE" && (place.status === "WAITING" || place.status === "ACTIVE")) {
      wrong("status", `${user}: out of the pre-queue (${place.status}) without a new queueToken`);
    }
  }
  if (preQueue && place.status !== "EXPIRED") checkMyPlace(cid, user, drawnPosition);
  if (place.status === "SOLD_OUT") {
    toldSoldOut.add(1, { where: "status" });
    soldOutMs.add(Date.now() - joinedAt);
    return 0;
  }
  if (place.status !== "ACTIVE" || !place.accessToken) {
    if (REDIS_LOSS && place.status === "EXPIRED") {
      lostPlaces.add(1);
      unexpected.add(true, { step: "admission" });
      warn(`${user}: lost the place (EXPIRED) after Redis lost its data`);
      return 0;
    }
    wrong("admission", `${user}: left the line as ${place.status} without an access token`);
    return 0;
  }
  const admittedAt = Date.now();
  admitted.add(1);
  if (ADMISSION_LOG) {
    // For scripts/check-admissions: the place (the access token's jti), the session's end
    // (the admitting tick's time on Redis's clock plus the session TTL, the same for everyone
    // that tick admitted) and when the join's answer arrived.
    const claims = JSON.parse(encoding.b64decode(place.accessToken.split(".")[1], "rawurl", "s"));
    console.log(`ADMITTED ${JSON.stringify({ user, seq: Number(claims.jti), expiresAt: place.accessTokenExpiresAt, joinedAt })}`);
  }
  admissionMs.add(admittedAt - joinedAt);
  return book(cid, user, idToken, place.accessToken, admittedAt, leave, owned);
}

// A drawn entrant finds its entrant id in the published draw, at a place no better than the
// position it was first given (the line only moves forward).
function checkMyPlace(cid, user, position) {
  const res = getDraw(cid);
  if (!res) return;
  const entrants = field(res, "entrants") || [];
  const place = entrants.indexOf(entrantId(cid, user)) + 1;
  if (!place) {
    wrong("draw", `${user} was in the pre-queue but is not in the published draw of ${entrants.length}`);
  } else if (position && position > place) {
    wrong("draw", `${user}: drawn at place ${place} but given position ${position}`);
  } else {
    drawPlaces.add(1);
  }
}

// Schedules, seats, a hold, a charge and a payment; returns the seats bought.
function book(cid, user, idToken, accessToken, admittedAt, leave, owned) {
  const auth = bearer(accessToken);
  const get = (step, url, name) => send(step, () => http.get(url, { headers: auth, tags: { step, name } }), is(200), true);

  // 1. Schedules, seats, and a hold of 1-2 random available seats.
  let res = get("schedules", `${api()}/api/v1/concerts/${cid}/schedules`, "GET /concerts/{id}/schedules");
  if (!res) {
    leave();
    return 0;
  }
  let open = (field(res, "schedules") || []).filter((s) => s.availableSeats > 0).map((s) => s.scheduleId);
  let reservation = null;
  let lost = 0;
  while (!reservation && open.length && lost <= HOLD_RETRIES) {
    const scheduleId = pick(open, 1)[0];
    res = get("seats", `${api()}/api/v1/concerts/${cid}/schedules/${scheduleId}/seats`, "GET /concerts/{id}/schedules/{id}/seats");
    if (!res) {
      leave();
      return 0;
    }
    const free = (field(res, "seats") || []).filter((s) => s.status === "AVAILABLE").map((s) => s.seatId);
    if (!free.length) {
      open = open.filter((s) => s !== scheduleId); // nothing left here: try another schedule
      continue;
    }
    const seatIds = pick(free, 1 + Math.floor(Math.random() * 2));
    // Not retried on 5xx: a hold that went through but lost its answer would make the retry 409 HOLD_EXISTS.
    res = send("hold", () => http.post(`${api()}/api/v1/reservations`, JSON.stringify({ scheduleId, seatIds }),
      { headers: auth, tags: { step: "hold" }, responseCallback: http.expectedStatuses(201, 409) }),
    (r) => r.status === 201 || (r.status === 409 && field(r, "code") === "SEAT_UNAVAILABLE"), false);
    if (!res) {
      leave();
      return 0;
    }
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
      noSeatLeft.add(1); // every seat sold or held: a normal ending of a sale
    }
    leave();
    return 0;
  }
  held.add(1);
  const release = () => send("release", () => http.del(`${api()}/api/v1/reservations/${reservation.reservationId}`, null,
    { headers: auth, tags: { step: "release", name: "DELETE /reservations/{id}" } }), is(200, 404, 409), true);
  const seats = (reservation.seats || reservation.seatIds || []).length || 1;
  const overLimit = owned + seats > MAX_TICKETS;

  // 2. Money in, then pay with an Idempotency-Key.
  const round = owned ? "-again" : "";
  if (reservation.totalPrice > 0) {
    // An account endpoint: the identity token does (so would the access token).
    res = send("charge", () => http.post(`${api()}/api/v1/balance/charge`, JSON.stringify({ amount: reservation.totalPrice }),
      { headers: bearer(idToken, { "Idempotency-Key": `${user}-charge${round}` }), tags: { step: "charge" } }), is(200), true);
    if (!res) {
      release();
      leave();
      return 0;
    }
  }
  const pay = (step) => send(step, () => http.post(`${api()}/api/v1/payments`, JSON.stringify({ reservationId: reservation.reservationId }),
    { headers: bearer(accessToken, { "Idempotency-Key": `${user}-pay${round}` }), tags: { step },
      responseCallback: http.expectedStatuses(201, 409) }),
  either(is(201), problem(409, "TICKET_LIMIT")), true);
  res = pay("pay");
  if (!res) {
    release();
    leave();
    return 0;
  }
  if (res.status === 409) {
    // Past the limit: refused, nothing sold; the hold goes back.
    ticketLimit.add(1);
    if (!overLimit) wrong("pay", `${user}: TICKET_LIMIT with ${owned} owned and ${seats} held (limit ${MAX_TICKETS})`);
    release();
    leave();
    return 0;
  }
  if (overLimit) wrong("pay", `${user}: bought ${seats} more with ${owned} owned, past the limit of ${MAX_TICKETS}`);
  const paymentId = field(res, "paymentId");
  paid.add(1);
  if (owned) secondBuys.add(1);
  journeyMs.add(Date.now() - admittedAt);
  if (field(res, "amount") !== reservation.totalPrice) {
    wrong("pay", `payment ${paymentId}: amount ${field(res, "amount")} but the hold's total is ${reservation.totalPrice}`);
  }

  // 3. The order is confirmed (read with the identity token: the session ended with the
  // payment), and paying again with the same key replays the same payment.
  res = send("order", () => http.get(`${api()}/api/v1/reservations/${reservation.reservationId}`,
    { headers: bearer(idToken), tags: { step: "order", name: "GET /reservations/{id}" } }), is(200), true);
  if (res && field(res, "status") !== "CONFIRMED") {
    wrong("order", `reservation ${reservation.reservationId} is ${field(res, "status")} after payment ${paymentId}`);
  }
  res = pay("pay_again");
  if (res && field(res, "paymentId") !== paymentId) {
    wrong("pay_again", `the same Idempotency-Key answered payment ${field(res, "paymentId")}, first ${paymentId}`);
  }
  return seats;
}

// --- The end of the sale. ---

export function teardown(data) {
  const cid = data.concertId;
  if (data.opensAtMs) {
    const res = getDraw(cid);
    const problems = res ? drawProblems(res.json()) : ["no draw"];
    if (problems.length) wrong("draw", `the published draw does not check out: ${problems.slice(0, 5).join("; ")}`);
    else {
      drawChecked.add(1);
      console.log(`draw of concert ${cid}: ${res.json("entrants").length} entrants; seed matches the commitment, order ascending by key`);
    }
  }
  if (envNum("EXPECT_SOLD_OUT", data.opensAtMs ? 1 : 0) === 1) {
    const res = send("stats", () => http.get(`${gw()}/api/v1/queue/${cid}/stats`, { tags: { step: "stats" } }), is(200, 404), true);
    const state = res && res.status === 200 ? field(res, "state") : "gone";
    if (state !== "SOLD_OUT") wrong("stats", `concert ${cid}: the sale ended ${state}, not SOLD_OUT`);
  }
  checkTickets(data);
}

// Every user's tickets of the concert: nobody over the limit, no seat twice, and (seats known)
// every seat sold.
function checkTickets(data) {
  const cid = data.concertId;
  const users = [];
  for (let i = 0; i < EARLY; i++) users.push(`e-${data.run}-${i}`);
  for (let i = 0; i < LATE; i++) users.push(`t-${data.run}-${i}`);
  const seatsSold = {};
  let tickets = 0;
  let over = 0;
  let unread = 0;
  for (let start = 0; start < users.length; start += 50) {
    const batch = users.slice(start, start + 50);
    const logins = http.batch(batch.map((userId) => ({ method: "POST", url: `${gw()}/api/v1/dev/login`,
      body: JSON.stringify({ userId }), params: { headers: JSON_HEADERS, tags: { step: "tickets" } } })));
    const lists = http.batch(logins.map((res) => ({ method: "GET", url: `${api()}/api/v1/tickets`,
      params: { headers: bearer(identityToken(res) || "none"), tags: { step: "tickets" } } })));
    lists.forEach((res, j) => {
      if (res.status !== 200) {
        // Not a wrong answer (a fault run may end with a service still coming back), but unexpected.
        unexpected.add(true, { step: "tickets" });
        unread++;
        warn(`GET /api/v1/tickets for ${batch[j]}: ${res.status} ${String(res.body).slice(0, 200)}`);
        return;
      }
      const mine = (field(res, "tickets") || []).filter((t) => t.concertId === cid);
      tickets += mine.length;
      if (mine.length > MAX_TICKETS) {
        over++;
        wrong("tickets", `${batch[j]} owns ${mine.length} tickets of concert ${cid}, over the limit of ${MAX_TICKETS}`);
      }
      for (const t of mine) {
        if (seatsSold[t.seatId]) wrong("tickets", `seat ${t.seatId} is sold twice (${seatsSold[t.seatId]} and ${batch[j]})`);
        seatsSold[t.seatId] = batch[j];
      }
    });
  }
  const seats = Object.keys(seatsSold).length;
  if (data.totalSeats && envNum("EXPECT_SOLD_OUT", data.opensAtMs ? 1 : 0) === 1 && seats !== data.totalSeats) {
    wrong("tickets", `${seats} of ${data.totalSeats} seats sold: not every seat sold exactly once`);
  }
  console.log(`tickets of concert ${cid}: ${tickets} tickets on ${seats} seats${data.totalSeats ? ` of ${data.totalSeats}` : ""}, ` +
    `${users.length} users (${unread} unread), ${over} over the limit of ${MAX_TICKETS}`);
}

export function handleSummary(data) {
  const pace = ARRIVAL_SECONDS > 0 ? `arriving over ${ARRIVAL_SECONDS}s` : `${VUS} at a time`;
  return summary(`ticket-open: ${USERS} users (${EARLY} in the pre-queue, ${LATE} after the opening, ${pace}), sign-in to sold out`, data);
}
