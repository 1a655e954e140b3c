// Browser tests of the pages, in Debian's headless Chromium driven by playwright-core,
// against a running system (as scripts/run starts it). Each scenario creates its own concert.
// Env: GATEWAY_URL, API_URL, ADMIN_TOKEN, CHROMIUM (/usr/bin/chromium), SCREENSHOT_DIR.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const GATEWAY = process.env.GATEWAY_URL || "http://127.0.0.1:8080";
const API = process.env.API_URL || "http://127.0.0.1:8081";
const ADMIN = process.env.ADMIN_TOKEN || "dev-admin-token";
const SHOTS = process.env.SCREENSHOT_DIR || join(process.cwd(), "screenshots");
mkdirSync(SHOTS, { recursive: true });
const RUN = Date.now().toString(36);

async function http(method, url, body, token) {
  const res = await fetch(url, {
    method,
    headers: Object.assign({ "Content-Type": "application/json" }, token ? { Authorization: `Bearer ${token}` } : {}),
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

async function concert(queue) {
  const c = await http("POST", `${API}/api/v1/admin/concerts`, {
    name: `Browser test ${RUN}`, schedules: [{ startsAt: "2027-04-01T19:00:00Z", seatCount: 12, price: 10000 }],
  }, ADMIN);
  await http("PUT", `${GATEWAY}/api/v1/admin/queues/${c.concertId}`, Object.assign(
    { admitPerTick: 10, tickMillis: 100, maxActive: 100, sessionTtlSeconds: 300, paused: false }, queue), ADMIN);
  return c.concertId;
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

async function page() {
  const context = await browser.newContext({ locale: "en-US" });
  const p = await context.newPage();
  p.setDefaultTimeout(30000);
  p.on("pageerror", (e) => { throw new Error(`page error: ${e.message}`); });
  return p;
}

// The page's own flow: the "Sign in as" box (#user-id), then #join signs in with the
// development login and joins.
async function joinAs(p, concertId, userId) {
  await p.goto(`${GATEWAY}/waiting-room/${concertId}`);
  await p.fill("#user-id", userId);
  await p.click("#join");
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
    await p.screenshot({ path: join(SHOTS, "5-confirmation.png"), fullPage: true });
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
for (const [name, run] of Object.entries(scenarios)) {
  try {
    await run();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${e.stack || e}`);
  }
}
await browser.close();
console.log(`screenshots: ${SHOTS}`);
process.exit(failed ? 1 : 0);
