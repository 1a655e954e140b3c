// Browser tests of the pages, in Debian's headless Chromium driven by playwright-core,
// against a running system (as scripts/run or scripts/browser-test starts it). Each scenario
// creates its own concert and drives the sale for real through the api and the gateway: the
// opening and its draw, waiting, every seat held, sold out, closed, the session's end, tickets.
// Env: GATEWAY_URL, API_URL, ADMIN_TOKEN, CHROMIUM (/usr/bin/chromium), SCREENSHOT_DIR, ONLY
// (run only the scenarios whose names contain it).
import { chromium } from "playwright-core";
import { createHash, randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const GATEWAY = process.env.GATEWAY_URL || "http://127.0.0.1:8080";
const API = process.env.API_URL || "http://127.0.0.1:8081";
const ADMIN = process.env.ADMIN_TOKEN || "dev-admin-token";
const SHOTS = process.env.SCREENSHOT_DIR || join(process.cwd(), "screenshots");
mkdirSync(SHOTS, { recursive: true });
const RUN = Date.now().toString(36);

async function http(method, url, body, token, headers = {}) {
  const res = await fetch(url, {
    method,
    headers: Object.assign({ "Content-Type": "application/json" }, token ? { Authorization: `Bearer ${token}` } : {}, headers),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// Signs `userId` in with the gateway's development login (DEV_LOGIN=1), then joins
// `concertId` with that identity token, as the page does.
async function signInAndJoin(userId, concertId) {
  const { identityToken } = await http("POST", `${GATEWAY}/api/v1/dev/login`, { userId });
  return http("POST", `${GATEWAY}/api/v1/queue/tokens`, { concertId }, identityToken);
}

const QUEUE = { admitPerTick: 10, tickMillis: 100, maxActive: 100, sessionTtlSeconds: 300, paused: false };

// A new concert of one schedule (`seats` seats at 10,000 won; with `opensAt`, a pre-queue
// until then) and its queue settings; its id (and the created concert as `created`).
async function concert(queue, { seats = 12, opensAt } = {}) {
  const c = await http("POST", `${API}/api/v1/admin/concerts`, {
    name: `Browser test ${RUN}`, schedules: [{ startsAt: "2027-04-01T19:00:00Z", seatCount: seats, price: 10000 }],
    ...(opensAt ? { opensAt } : {}),
  }, ADMIN);
  await http("PUT", `${GATEWAY}/api/v1/admin/queues/${c.concertId}`, Object.assign({}, QUEUE, queue), ADMIN);
  created.set(c.concertId, c);
  return c.concertId;
}
const created = new Map();

// Polls `condition` until it gives something truthy, or fails after `ms`.
async function until(what, condition, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await condition();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// A fan outside the browser, admitted: signs in, joins, polls until ACTIVE.
async function admitted(userId, concertId) {
  const { identityToken } = await http("POST", `${GATEWAY}/api/v1/dev/login`, { userId });
  const { queueToken } = await http("POST", `${GATEWAY}/api/v1/queue/tokens`, { concertId }, identityToken);
  const st = await until(`${userId} admitted`, async () => {
    const r = await http("GET", `${GATEWAY}/api/v1/queue/status`, undefined, queueToken);
    return r.status === "ACTIVE" && r;
  });
  return { identityToken, queueToken, access: st.accessToken };
}

// Holds `seatIds` of the concert's schedule with an access token; the reservation.
function hold(access, concertId, seatIds) {
  const scheduleId = created.get(concertId).schedules[0].scheduleId;
  return http("POST", `${API}/api/v1/reservations`, { scheduleId, seatIds }, access);
}

async function pay(access, reservation) {
  await http("POST", `${API}/api/v1/balance/charge`, { amount: reservation.totalPrice }, access, { "Idempotency-Key": randomUUID() });
  return http("POST", `${API}/api/v1/payments`, { reservationId: reservation.reservationId }, access,
    { "Idempotency-Key": randomUUID() });
}

const sha256hex = (text) => createHash("sha256").update(text).digest("hex");
const text = async (p, selector) => ((await p.textContent(selector)) || "").trim();

// Counts the page's status polls from now on.
function statusPolls(p) {
  const seen = { count: 0 };
  p.on("request", (r) => { if (r.url().includes("/api/v1/queue/status")) seen.count++; });
  return seen;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  // playwright gives every launch a fresh, empty profile directory
});

const pageErrors = [];
const failedRequests = [];
const contexts = [];

async function page(locale = "en-US") {
  const context = await browser.newContext({ locale });
  contexts.push(context);
  const p = await context.newPage();
  p.setDefaultTimeout(30000);
  // A page error fails the scenario running (checked after it), not the whole run.
  p.on("pageerror", (e) => pageErrors.push(`${p.url()}: ${e.message}`));
  p.on("requestfailed", (r) => failedRequests.push(`${r.method()} ${r.url()}: ${r.failure() && r.failure().errorText}`));
  return p;
}

// The page's own flow: the "Sign in as" box (#user-id), then #join signs in with the
// development login and joins.
async function joinAs(p, concertId, userId) {
  await p.goto(`${GATEWAY}/waiting-room/${concertId}`);
  await p.fill("#user-id", userId);
  await p.click("#join");
}

// A paused line of three, the fan last, on a desktop and a phone page; resumed, the fan is
// admitted. With `blocked` the pages cannot open the event stream (aborted, as a proxy that
// refuses it would) and must poll; else the admission must arrive by the stream, with no poll.
async function liveAdmission(blocked) {
  const id = await concert({ paused: true, admitPerTick: 1, tickMillis: 200 });
  const tag = blocked ? "poll" : "sse";
  for (let i = 0; i < 2; i++) {
    await signInAndJoin(`${tag}-ahead-${RUN}-${i}`, id);
  }
  const [desktop, phone] = [await page(), await page()];
  await phone.setViewportSize({ width: 390, height: 844 });
  const polls = [];
  const streams = [];
  for (const p of [desktop, phone]) {
    if (blocked) await p.route("**/api/v1/queue/events**", (route) => route.abort());
    polls.push(statusPolls(p));
    const opened = { count: 0 };
    p.on("request", (r) => { if (r.url().includes("/api/v1/queue/events")) opened.count++; });
    streams.push(opened);
  }
  await joinAs(desktop, id, `${tag}-fan-${RUN}`);
  await desktop.waitForFunction(() => document.getElementById("position").textContent === "3");
  await joinAs(phone, id, `${tag}-fan-phone-${RUN}`);
  await phone.waitForFunction(() => document.getElementById("position").textContent === "4");
  for (const p of [desktop, phone]) {
    await p.waitForFunction((mode) => document.body.dataset.live === mode, tag);
  }
  check(streams.every((s) => s.count >= 1), "both pages tried the event stream");
  await desktop.screenshot({ path: join(SHOTS, `live-${tag}-waiting.png`), fullPage: true });
  await phone.screenshot({ path: join(SHOTS, `live-${tag}-waiting-phone.png`), fullPage: true });
  await http("PUT", `${GATEWAY}/api/v1/admin/queues/${id}`,
    Object.assign({}, QUEUE, { admitPerTick: 1, tickMillis: 200, paused: false }), ADMIN);
  for (const p of [desktop, phone]) {
    await p.waitForSelector("#book-view:not(.hidden)", { timeout: 15000 });
    await p.waitForSelector('#seat-map button[data-status="AVAILABLE"]');
  }
  if (blocked) {
    check(polls.every((n) => n.count >= 1), `each page polled (${polls.map((n) => n.count)})`);
  } else {
    check(polls.every((n) => n.count === 0), `no status poll: admission came by the stream (${polls.map((n) => n.count)})`);
    check(streams.every((s) => s.count === 1), `one stream a page (${streams.map((s) => s.count)})`);
  }
  await desktop.screenshot({ path: join(SHOTS, `live-${tag}-admitted.png`), fullPage: true });
  await phone.screenshot({ path: join(SHOTS, `live-${tag}-admitted-phone.png`), fullPage: true });
}

// The operator's console on a desktop and a phone page: signs in with the admin token (kept
// for the tab only), shows a sale as it happens (a line joined through the development login,
// a hold, a payment), refuses a setting out of bounds with the problem's detail, and pauses
// the line (the confirm dialog accepted) so that the gateway's stats say paused.
async function consoleSale() {
  const id = await concert({ admitPerTick: 1, tickMillis: 1000, maxActive: 2 }, { seats: 10 });
  const desktop = await page();
  await desktop.setViewportSize({ width: 1280, height: 900 });
  await desktop.goto(`${GATEWAY}/admin#concert=${id}`);
  await desktop.waitForSelector("#sign-in-view:not(.hidden)");
  await desktop.fill("#admin-token", "not-the-token");
  await desktop.click("#sign-in");
  await desktop.waitForFunction(() => /refused/.test(document.getElementById("error").textContent));
  check(await desktop.evaluate(() => sessionStorage.getItem("tix.admin")) === null, "a refused token is not kept");
  await desktop.fill("#admin-token", ADMIN);
  await desktop.click("#sign-in");
  await desktop.waitForSelector("#console-view:not(.hidden)");
  check(await desktop.evaluate(() => sessionStorage.getItem("tix.admin")) !== null
    && await desktop.evaluate(() => localStorage.getItem("tix.admin")) === null, "the token is kept for the tab only");
  check(await desktop.inputValue("#concert") === String(id), "the concert of the link is chosen");
  const figure = (p, f) => text(p, `#f-${f}`);
  await until("the console's first figures", async () => (await figure(desktop, "sellable")) === "10");

  // The sale happens: a line of four, two admitted (maxActive), one holds two seats and pays.
  const fans = [];
  for (let i = 0; i < 4; i++) fans.push(await signInAndJoin(`console-${RUN}-${i}`, id));
  await desktop.waitForFunction(() => Number(document.getElementById("f-active").textContent) === 2, undefined, { timeout: 15000 });
  await desktop.waitForFunction(() => document.getElementById("f-waiting").textContent === "2");
  const buyer = await until("a fan admitted", async () => {
    for (const f of fans) {
      const st = await http("GET", `${GATEWAY}/api/v1/queue/status`, undefined, f.queueToken);
      if (st.status === "ACTIVE") return st.accessToken;
    }
    return null;
  });
  const reservation = await hold(buyer, id, created.get(id).schedules[0].seatIds.slice(0, 2));
  await desktop.waitForFunction(() => document.getElementById("f-held").textContent === "2", undefined, { timeout: 10000 });
  check((await figure(desktop, "sellable")) === "8", `two held, eight sellable (${await figure(desktop, "sellable")})`);
  await pay(buyer, reservation);
  await desktop.waitForFunction(() => document.getElementById("f-sold").textContent === "2 / 10", undefined, { timeout: 10000 });
  check((await figure(desktop, "held")) === "0", "the paid seats are no longer held");
  check((await figure(desktop, "conversion")) === "1 / 1 (100%)", `one hold, one payment (${await figure(desktop, "conversion")})`);
  check(/20,000/.test(await figure(desktop, "revenue")), `the revenue (${await figure(desktop, "revenue")})`);
  const points = Number(await desktop.getAttribute("#chart-seats", "data-points"));
  check(points >= 3, `the charts have samples (${points})`);
  await desktop.waitForFunction((n) => Number(document.getElementById("chart-seats").dataset.points) > n, points);
  check((await desktop.$$("#chart-seats canvas")).length >= 1, "the seat chart is drawn");
  check(/no pre-queue draw/.test(await text(desktop, "#draw")), "a sale open at once has no draw");

  // Refused: the problem's detail is shown, the settings stay.
  await desktop.fill("#s-max", "10000001");
  desktop.once("dialog", (d) => d.accept());
  await desktop.click("#apply-settings");
  await desktop.waitForFunction(() => /maxActive/.test(document.getElementById("error").textContent));
  const refused = await http("GET", `${GATEWAY}/api/v1/admin/queues/${id}`, undefined, ADMIN);
  check(refused.settings.maxActive === 2, "a refused change changes nothing");

  // Declined: closing asks first, and nothing happens when the operator says no.
  desktop.once("dialog", (d) => d.dismiss());
  await desktop.click("#close");
  check((await http("GET", `${GATEWAY}/api/v1/queue/${id}/stats`)).state === "OPEN", "a declined close leaves the queue open");

  // Pause, confirmed: the gateway's stats say paused, and so does the console.
  let question = "";
  desktop.once("dialog", (d) => { question = d.message(); d.accept(); });
  await desktop.click("#pause");
  await desktop.waitForFunction(() => document.getElementById("pause").dataset.paused === "true", undefined, { timeout: 10000 });
  check(/Pause admission to Browser test/.test(question), `the confirm dialog names the concert (${question})`);
  check((await http("GET", `${GATEWAY}/api/v1/queue/${id}/stats`)).paused === true, "the gateway's stats say paused");
  check(/paused/.test(await text(desktop, "#sale-state")) && (await text(desktop, "#pause")) === "Resume admission",
    "the console says paused and offers to resume");
  check((await text(desktop, "#notice")) === "Paused", "the pause is confirmed");
  await desktop.screenshot({ path: join(SHOTS, "console-desktop.png"), fullPage: true });

  const phone = await page();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(`${GATEWAY}/admin#concert=${id}`);
  await phone.fill("#admin-token", ADMIN);
  await phone.click("#sign-in");
  await phone.waitForFunction(() => document.getElementById("f-sold").textContent === "2 / 10");
  await phone.waitForFunction(() => Number(document.getElementById("chart-line").dataset.points) >= 3);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `the phone page does not scroll sideways (${overflow} px)`);
  await phone.screenshot({ path: join(SHOTS, "console-phone.png"), fullPage: true });
}

// The console on a sale with a pre-queue: the draw's commitment (the one the api published)
// and state, the opening moved and then the queue closed, each confirmed, and the gateway's
// stats showing both.
async function consoleOpeningAndClose() {
  const opensAt = new Date(Date.now() + 10 * 60000).toISOString();
  const id = await concert({}, { opensAt });
  const p = await page();
  await p.goto(`${GATEWAY}/admin#concert=${id}`);
  await p.fill("#admin-token", ADMIN);
  await p.click("#sign-in");
  const commitment = created.get(id).drawCommitment;
  await p.waitForFunction((c) => document.getElementById("draw").textContent.includes(c), commitment);
  check(/Not drawn yet/.test(await text(p, "#draw")), "the draw is not made yet");
  await p.waitForFunction(() => /Pre-queue/.test(document.getElementById("sale-state").textContent));
  check(!(await p.isDisabled("#move-opening")), "the opening can be moved before the sale opens");

  // Moved 20 minutes on, to the second, as the operator's clock shows it.
  const moved = Math.floor((Date.now() + 20 * 60000) / 1000) * 1000;
  const local = await p.evaluate((ms) => {
    const d = new Date(ms);
    return new Date(ms - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }, moved);
  await p.fill("#opens-at", local);
  p.once("dialog", (d) => d.accept());
  await p.click("#move-opening");
  await p.waitForFunction(() => document.getElementById("notice").textContent === "Opening moved");
  const stats = await http("GET", `${GATEWAY}/api/v1/queue/${id}/stats`);
  check(Date.parse(stats.opensAt) === moved, `the gateway opens the sale at the new time (${stats.opensAt})`);

  p.once("dialog", (d) => d.accept());
  await p.click("#close");
  await p.waitForFunction(() => document.getElementById("notice").textContent === "Queue closed (CLOSED)");
  check((await http("GET", `${GATEWAY}/api/v1/queue/${id}/stats`)).state === "CLOSED", "the gateway's stats say closed");
  await p.waitForFunction(() => /Closed/.test(document.getElementById("sale-state").textContent));
  check(await p.isDisabled("#pause") && await p.isDisabled("#close"), "a closed queue offers no more controls");
  // Reloaded, the tab is still signed in and the closed concert, off the open list, is still
  // shown by its link.
  await p.reload();
  await p.waitForSelector("#console-view:not(.hidden)");
  await p.waitForFunction(() => /Closed/.test(document.getElementById("sale-state").textContent));
  check(await p.inputValue("#concert") === String(id), "the closed concert is the one shown");
}

const scenarios = {
  async "one user waits, is admitted, holds two seats, charges, pays and sees the confirmation"() {
    const id = await concert({ admitPerTick: 1, tickMillis: 1000, maxActive: 10 });
    for (let i = 0; i < 3; i++) {
      await signInAndJoin(`ahead-${RUN}-${i}`, id);
    }
    const p = await page();
    await p.goto(`${GATEWAY}/`);
    await p.waitForSelector(`a[data-concert-id="${id}"]`);
    await p.screenshot({ path: join(SHOTS, "1-index.png"), fullPage: true });
    await joinAs(p, id, `solo-${RUN}`);
    await p.waitForSelector("#wait-view:not(.hidden)");
    const position = Number(await p.textContent("#position"));
    check(position >= 1, `a position is shown (${position})`);
    await p.screenshot({ path: join(SHOTS, "2-waiting.png"), fullPage: true });
    await p.waitForSelector("#book-view:not(.hidden)", { timeout: 60000 });
    await p.waitForSelector('#seat-map button[data-status="AVAILABLE"]');
    check(/^[45]:\d\d$/.test(await text(p, "#session-left")), `the session's time left is shown (${await text(p, "#session-left")})`);
    check(await p.isHidden("#session-warning"), "no warning with minutes left");
    await p.screenshot({ path: join(SHOTS, "3-booking.png"), fullPage: true });
    const seats = await p.$$('#seat-map button[data-status="AVAILABLE"]');
    await seats[0].click();
    await seats[1].click();
    await p.click("#hold");
    await p.waitForSelector("#hold-box:not(.hidden)");
    check(/\d+:\d\d/.test(await p.textContent("#countdown")), "a countdown is shown");
    check((await p.$$('#seat-map button[data-status="MINE"]')).length === 2, "both seats show as mine");
    await p.fill("#charge-amount", "20000");
    await p.click("#charge");
    await p.waitForFunction(() => /20,000/.test(document.getElementById("balance").textContent));
    await p.screenshot({ path: join(SHOTS, "4-held.png"), fullPage: true });
    await p.click("#pay");
    await p.waitForSelector("#confirmation:not(.hidden)");
    check((await p.$$("#tickets li")).length === 2, "two tickets are listed");
    // My tickets, from GET /api/v1/tickets, below the confirmation.
    await p.waitForSelector("#my-tickets-box:not(.hidden)");
    const rows = await p.$$eval("#my-tickets tr", (trs) => trs.map((tr) => tr.textContent));
    check(rows.length === 2 && rows.every((r) => r.includes(`Browser test ${RUN}`) && /10,000 won/.test(r)),
      `my tickets lists both seats of this concert (${JSON.stringify(rows)})`);
    await p.screenshot({ path: join(SHOTS, "5-confirmation.png"), fullPage: true });
    // ... and from the "My tickets" link.
    await p.click("#my-tickets-link");
    await p.waitForSelector("#tickets-table:not(.hidden)");
    check((await p.$$("#tickets tr")).length === 2, "the My tickets page lists both tickets");
    check((await text(p, "#signed-in-as")).includes(`solo-${RUN}`), "the page says who is signed in");
    await p.screenshot({ path: join(SHOTS, "5b-my-tickets.png"), fullPage: true });
  },

  async "my tickets from the index page's link: sign in, then every ticket of the fan"() {
    const id = await concert({});
    const user = `owner-${RUN}`;
    const fan = await admitted(user, id);
    const seats = created.get(id).schedules[0].seatIds;
    await pay(fan.access, await hold(fan.access, id, seats.slice(0, 3)));
    const p = await page();
    await p.goto(`${GATEWAY}/`);
    await p.click("#my-tickets-link");
    await p.waitForSelector("#dev-sign-in:not(.hidden)");
    await p.fill("#user-id", user);
    await p.click("#sign-in");
    await p.waitForSelector("#tickets-table:not(.hidden)");
    const rows = await p.$$eval("#tickets tr", (trs) => trs.map((tr) => tr.textContent));
    check(rows.length === 3, `three tickets (${rows.length})`);
    check(["Seat 1", "Seat 2", "Seat 3"].every((s) => rows.some((r) => r.includes(s))), "seats 1 to 3 are listed");
    const ko = await page("ko-KR");
    await ko.goto(`${GATEWAY}/my-tickets`);
    await ko.fill("#user-id", user);
    await ko.click("#sign-in");
    await ko.waitForSelector("#tickets-table:not(.hidden)");
    check((await text(ko, "h1")) === "내 티켓" && (await text(ko, "#tickets")).includes("1번 좌석"), "the page in Korean");
    await ko.screenshot({ path: join(SHOTS, "5c-my-tickets-ko.png"), fullPage: true });
    const nobody = await page();
    await nobody.goto(`${GATEWAY}/my-tickets`);
    await nobody.fill("#user-id", `nobody-${RUN}`);
    await nobody.click("#sign-in");
    await nobody.waitForSelector("#no-tickets:not(.hidden)");
  },

  async "a hold past the ticket limit is refused with how many the fan may still buy"() {
    const id = await concert({});
    const user = `collector-${RUN}`;
    const fan = await admitted(user, id);
    const seats = created.get(id).schedules[0].seatIds;
    await pay(fan.access, await hold(fan.access, id, seats.slice(0, 3)));
    await http("DELETE", `${GATEWAY}/api/v1/queue/tokens`, undefined, fan.queueToken);
    const p = await page();
    await joinAs(p, id, user);
    await p.waitForSelector('#seat-map button[data-status="AVAILABLE"]');
    await p.click(`#seat-map button[data-seat-id="${seats[3]}"]`);
    await p.click(`#seat-map button[data-seat-id="${seats[4]}"]`);
    await p.click("#hold");
    await p.waitForSelector("#error:not(.hidden)");
    check(/ticket limit: you may buy 1 more/.test(await text(p, "#error-text")), `the limit, said (${await text(p, "#error-text")})`);
    await p.screenshot({ path: join(SHOTS, "5d-ticket-limit.png"), fullPage: true });
  },

  async "before the opening the page counts down and links the commitment; after the draw it shows the drawn place and a link to check it"() {
    const opensAt = new Date(Date.now() + 8000).toISOString();
    const id = await concert({ paused: true }, { opensAt });
    const user = `drawn-${RUN}`;
    const [p, ko] = [await page(), await page("ko-KR")];
    await Promise.all([signInAndJoin(`early-${RUN}-0`, id), signInAndJoin(`early-${RUN}-1`, id),
      joinAs(p, id, user), joinAs(ko, id, `early-ko-${RUN}`)]);
    await p.waitForSelector("#pre-view:not(.hidden)");
    check(/^0:0\d$/.test(await text(p, "#opens-in")), `the countdown shows mm:ss (${await text(p, "#opens-in")})`);
    check(/random order at the opening, so there is no need to hurry/.test(await text(p, "#pre-note")), "no need to hurry, said why");
    check(await p.getAttribute("#commitment-link", "href") === `/api/v1/queue/${id}/draw`, "the commitment link");
    const commitment = created.get(id).drawCommitment;
    await p.waitForFunction((c) => document.getElementById("commitment").title === c, commitment);
    await ko.waitForSelector("#pre-view:not(.hidden)");
    check((await text(ko, "#pre-view")).includes("판매 시작까지") && (await text(ko, "#pre-note")).includes("무작위 순서"),
      "the countdown in Korean");
    await p.screenshot({ path: join(SHOTS, "11-pre-queue.png"), fullPage: true });
    await ko.screenshot({ path: join(SHOTS, "11b-pre-queue-ko.png"), fullPage: true });

    // The opening: a moment of "drawing", then the drawn place (pushed by the event stream
    // within a tick of the draw, often before the countdown's next beat shows "drawing").
    await p.waitForFunction(() => /drawing the order/.test(document.getElementById("status-message").textContent)
      || !document.getElementById("draw-box").classList.contains("hidden"), undefined, { timeout: 15000 });
    await p.waitForSelector("#draw-box:not(.hidden)", { timeout: 20000 });
    const draw = await http("GET", `${GATEWAY}/api/v1/queue/${id}/draw`);
    check(draw.drawn && draw.entrants.length === 4, `four entrants drawn (${JSON.stringify(draw)})`);
    check(createHash("sha256").update(Buffer.from(draw.seed, "hex")).digest("hex") === commitment, "the seed matches the commitment");
    const entrant = sha256hex(`${id}:${user}`);
    const place = draw.entrants.indexOf(entrant) + 1;
    check(place >= 1, "the fan is among the entrants");
    check(await text(p, "#drawn-place") === `You were drawn ${place} of 4 in the opening draw.`,
      `the drawn place (${await text(p, "#drawn-place")}, expected ${place} of 4)`);
    check(await text(p, "#entrant-id") === entrant, "the entrant id computed in the browser");
    check(await p.getAttribute("#draw-link", "href") === `/api/v1/queue/${id}/draw`, "the link to check the draw");
    check((await text(p, "#draw-box")).includes("scripts/verify-draw"), "scripts/verify-draw is named");
    await p.waitForSelector("#wait-view:not(.hidden)");
    await p.waitForFunction((n) => document.getElementById("position").textContent === String(n), place);
    await ko.waitForSelector("#draw-box:not(.hidden)");
    check(/4명 중 \d번째/.test(await text(ko, "#drawn-place")), "the drawn place in Korean");
    await p.screenshot({ path: join(SHOTS, "12-drawn.png"), fullPage: true });
    await ko.screenshot({ path: join(SHOTS, "12b-drawn-ko.png"), fullPage: true });
  },

  async "while every seat left is held the line says seats may come back, and a released hold admits the next fan"() {
    const id = await concert({}, { seats: 1 });
    const holder = await admitted(`holder-${RUN}`, id);
    const reservation = await hold(holder.access, id, created.get(id).schedules[0].seatIds);
    const p = await page();
    await joinAs(p, id, `hopeful-${RUN}`);
    await p.waitForSelector("#wait-view:not(.hidden)");
    await p.waitForSelector("#seats-note:not(.hidden)");
    check(/every seat left is held right now; seats may come back/i.test(await text(p, "#seats-note")), "seats may come back");
    check(await text(p, "#position") === "1", "first in line");
    await p.screenshot({ path: join(SHOTS, "13-waiting-for-seats.png"), fullPage: true });
    await http("DELETE", `${API}/api/v1/reservations/${reservation.reservationId}`, undefined, holder.access);
    await http("DELETE", `${GATEWAY}/api/v1/queue/tokens`, undefined, holder.queueToken);
    await p.waitForSelector("#book-view:not(.hidden)");
    await p.waitForSelector('#seat-map button[data-status="AVAILABLE"]');
  },

  async "the line is told sold out when the last seat sells, polling stops, and a late fan is told sold out at once"() {
    const id = await concert({ maxActive: 1 }, { seats: 1 });
    const buyer = await admitted(`buyer-${RUN}`, id);
    const p = await page();
    await joinAs(p, id, `too-late-${RUN}`);
    await p.waitForSelector("#wait-view:not(.hidden)");
    check(await p.isHidden("#seats-note"), "no seats note while seats are left");
    await p.screenshot({ path: join(SHOTS, "14-waiting.png"), fullPage: true });
    const reservation = await hold(buyer.access, id, created.get(id).schedules[0].seatIds);
    await p.waitForSelector("#seats-note:not(.hidden)");
    await pay(buyer.access, reservation);
    await p.waitForSelector('#final-view[data-state="soldOut"]:not(.hidden)', { timeout: 10000 });
    check(await text(p, "#final-title") === "Sold out", "sold out");
    check(/every seat has been sold/i.test(await text(p, "#final-note")), "said why");
    const polls = statusPolls(p);
    await p.waitForTimeout(2500);
    check(polls.count === 0, `no status poll after sold out (${polls.count})`);
    check(await p.isHidden("#rejoin"), "no way to join again");
    await p.screenshot({ path: join(SHOTS, "15-sold-out.png"), fullPage: true });
    const ko = await page("ko-KR");
    await joinAs(ko, id, `later-${RUN}`);
    await ko.waitForSelector('#final-view[data-state="soldOut"]:not(.hidden)');
    check(await text(ko, "#final-title") === "매진", "sold out in Korean");
    await ko.screenshot({ path: join(SHOTS, "15b-sold-out-ko.png"), fullPage: true });
  },

  async "a waiting fan is told the sale closed when the promoter closes it, and polling stops"() {
    const id = await concert({ paused: true });
    const p = await page();
    await joinAs(p, id, `closed-out-${RUN}`);
    await p.waitForSelector("#wait-view:not(.hidden)");
    await http("POST", `${API}/api/v1/admin/concerts/${id}/close`, undefined, ADMIN);
    await p.waitForSelector('#final-view[data-state="closed"]:not(.hidden)', { timeout: 10000 });
    check(await text(p, "#final-title") === "The sale is closed", "closed");
    const polls = statusPolls(p);
    await p.waitForTimeout(2000);
    check(polls.count === 0, `no status poll after closed (${polls.count})`);
    await p.screenshot({ path: join(SHOTS, "16-closed.png"), fullPage: true });
    const late = await page();
    await joinAs(late, id, `closed-late-${RUN}`);
    await late.waitForSelector('#final-view[data-state="closed"]:not(.hidden)');
  },

  async "the session counts down, warns in its last minute and says what its end means"() {
    const id = await concert({ sessionTtlSeconds: 6 });
    const p = await page();
    await joinAs(p, id, `short-${RUN}`);
    await p.waitForSelector("#book-view:not(.hidden)");
    await p.waitForSelector("#session-warning:not(.hidden)");
    check(/^0:0[0-6]$/.test(await text(p, "#session-left")), `the time left (${await text(p, "#session-left")})`);
    check(/less than a minute left/i.test(await text(p, "#session-warning")), "the warning");
    await p.screenshot({ path: join(SHOTS, "17-session-warning.png"), fullPage: true });
    const ko = await page("ko-KR");
    await joinAs(ko, id, `short-ko-${RUN}`);
    await ko.waitForSelector("#session-warning:not(.hidden)");
    check((await text(ko, "#session-warning")).includes("1분도 남지 않았습니다"), "the warning in Korean");
    await p.waitForSelector('#final-view[data-state="expired"]:not(.hidden)', { timeout: 15000 });
    check(await text(p, "#final-title") === "Your booking session has ended", "ended");
    check(/unpaid|did not pay/i.test(await text(p, "#final-note")) && await p.isVisible("#rejoin"), "what the end means, and join again");
    await p.screenshot({ path: join(SHOTS, "18-session-ended.png"), fullPage: true });
  },

  async "two browsers race for one seat: one holds it, the other sees the conflict and the seat taken"() {
    const id = await concert({});
    const [a, b] = [await page(), await page()];
    await Promise.all([joinAs(a, id, `racer-a-${RUN}`), joinAs(b, id, `racer-b-${RUN}`)]);
    await Promise.all([a.waitForSelector("#book-view:not(.hidden)"), b.waitForSelector("#book-view:not(.hidden)")]);
    await Promise.all([a.waitForSelector("#seat-map button"), b.waitForSelector("#seat-map button")]);
    const seat = await a.getAttribute('#seat-map button[data-status="AVAILABLE"]', "data-seat-id");
    await a.click(`#seat-map button[data-seat-id="${seat}"]`);
    await b.click(`#seat-map button[data-seat-id="${seat}"]`);
    await a.click("#hold");
    await a.waitForSelector("#hold-box:not(.hidden)");
    await b.click("#hold");
    await b.waitForSelector("#error:not(.hidden)");
    check(/someone else/i.test(await b.textContent("#error-text")), "the loser is told someone else took the seat");
    await b.waitForSelector(`#seat-map button[data-seat-id="${seat}"][data-status="HELD"]`);
    await a.screenshot({ path: join(SHOTS, "6-race-winner.png"), fullPage: true });
    await b.screenshot({ path: join(SHOTS, "7-race-loser.png"), fullPage: true });
  },

  async "a refresh of the waiting room keeps the same place"() {
    const id = await concert({ paused: true });
    for (let i = 0; i < 2; i++) {
      await signInAndJoin(`before-${RUN}-${i}`, id);
    }
    const p = await page();
    await joinAs(p, id, `refresher-${RUN}`);
    await p.waitForSelector("#wait-view:not(.hidden)");
    await p.waitForFunction(() => document.getElementById("position").textContent === "3");
    const token = await p.evaluate((k) => localStorage.getItem(k), `tix.queue.${id}`);
    await p.reload();
    await p.waitForFunction(() => document.getElementById("position").textContent === "3");
    check(await p.evaluate((k) => localStorage.getItem(k), `tix.queue.${id}`) === token, "the same queue token after a refresh");
    check(/paused/i.test(await p.textContent("#status-message")), "the paused queue is said so");
    await p.screenshot({ path: join(SHOTS, "8-after-refresh.png"), fullPage: true });
    await http("PUT", `${GATEWAY}/api/v1/admin/queues/${id}`,
      { admitPerTick: 10, tickMillis: 100, maxActive: 100, sessionTtlSeconds: 300, paused: false }, ADMIN);
  },

  async "the waiting room hears of its admission by server-sent events, without polling"() {
    await liveAdmission(false);
  },

  async "with server-sent events blocked the waiting room falls back to polling and is admitted"() {
    await liveAdmission(true);
  },

  async "the operator's console shows a sale as it happens, answers a refusal and pauses the line"() {
    await consoleSale();
  },

  async "the operator's console shows the draw's commitment, moves the opening and closes the queue"() {
    await consoleOpeningAndClose();
  },

  async "each binary's /docs lists every operation of its /openapi.json, and try-it-out calls the server"() {
    const id = await concert({ paused: true });
    for (const [base, name] of [[GATEWAY, "gateway"], [API, "api"]]) {
      const doc = await http("GET", `${base}/openapi.json`);
      const operations = Object.values(doc.paths).flatMap((item) =>
        Object.keys(item).filter((m) => ["get", "put", "post", "delete", "patch"].includes(m)));
      const p = await page();
      await p.goto(`${base}/docs`);
      await p.waitForSelector(".opblock");
      await p.waitForFunction((n) => document.querySelectorAll(".opblock").length >= n, operations.length);
      const shown = await p.$$eval(".opblock", (blocks) => blocks.length);
      check(shown === operations.length, `${name}: /docs shows ${shown} operations, /openapi.json has ${operations.length}`);
      await p.screenshot({ path: join(SHOTS, `9-docs-${name}.png`) });
    }
    const p = await page();
    await p.goto(`${GATEWAY}/docs`);
    const stats = p.locator(".opblock-get", { has: p.locator('[data-path="/api/v1/queue/{concertId}/stats"]') });
    await stats.locator(".opblock-summary").first().click();
    await stats.locator(".try-out__btn").click();
    await stats.locator('input[placeholder="concertId"]').fill(String(id));
    await stats.locator(".execute").click();
    // The body row's cell, not the header's ("Code"), which shows before the answer arrives.
    const cell = stats.locator(".live-responses-table tbody .response-col_status").first();
    await cell.waitFor();
    const status = (await cell.textContent()).trim();
    check(status === "200", `try-it-out of the queue stats answered ${status}`);
    check(/waiting/.test(await stats.locator(".live-responses-table").textContent()), "the stats body is shown");
    await p.screenshot({ path: join(SHOTS, "10-docs-try-it.png"), fullPage: false });
  },
};

let failed = 0;
const only = process.env.ONLY || "";
for (const [name, run] of Object.entries(scenarios)) {
  if (!name.includes(only)) continue;
  const started = Date.now();
  pageErrors.length = 0;
  failedRequests.length = 0;
  try {
    await run();
    check(pageErrors.length === 0, `page errors: ${pageErrors.join("; ")} (failed requests: ${failedRequests.join("; ")})`);
    console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${e.stack || e}`);
  }
  // Each scenario's pages stop polling when it ends.
  await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => {})));
}
await browser.close();
console.log(`screenshots: ${SHOTS}`);
process.exit(failed ? 1 : 0);
