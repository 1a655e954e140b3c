// The operator's console: sign in with the admin token (kept in sessionStorage, so for this
// tab only), pick a concert, and watch its line and sale live: every 1.5 s the gateway's
// figures of the queue and the api's of the sale are read and charted (uPlot, vendored).
// The controls (pause or resume, settings, the opening, closing the queue) each ask for
// confirmation and show the problem's `detail` when refused.
(function () {
  // The console's strings, in the style of i18n.js (English and Korean; the browser's
  // language chooses), kept here so the fans' pages do not carry them.
  const strings = {
    en: {
      console: "Operator console", signOut: "Sign out", signInTitle: "Sign in", signIn: "Sign in",
      signInNote: "The admin token is kept for this tab only.", adminToken: "Admin token",
      refused: "The admin token was refused. Sign in again.", concert: "Concert",
      noConcerts: "No concert has an open queue.", waiting: "Waiting", active: "Active",
      perMinute: "Admitted per minute", held: "Held", sold: "Sold", sellable: "Sellable",
      conversion: "Holds paid", revenue: "Revenue", lineChart: "The line", rateChart: "Admitted per minute",
      seatsChart: "Seats", holdsChart: "Holds turning into payments", controls: "Controls",
      pause: "Pause admission", resume: "Resume admission", closeQueue: "Close the queue",
      admitPerTick: "Admit per tick", tickMillis: "Tick (ms)", maxActive: "Max active", sessionTtl: "Session (s)",
      apply: "Apply settings", opensAt: "Sale opens at (your time)", moveOpening: "Move the opening",
      draw: "The draw", noDraw: "This sale opened at once: it has no pre-queue draw.",
      commitment: "Commitment (SHA-256 of the seed)", drawState: "State", drawn: "Drawn", notDrawn: "Not drawn yet",
      drawOpensAt: "Opens at", seed: "Seed", drawnAt: "Drawn at", entrants: "Entrants drawn",
      measured: "measured (30 s)", recent: "last 15 s", holdsCreated: "holds created", payments: "payments",
      updated: (t) => `Updated ${t}`, stale: (t) => `Not updated since ${t}`,
      confirmPause: (n) => `Pause admission to ${n}? Nobody more is admitted until it resumes.`,
      confirmResume: (n) => `Resume admission to ${n}?`,
      confirmSettings: (n, s) => `Change ${n}'s queue to ${s.admitPerTick} per tick every ${s.tickMillis} ms, at most ${s.maxActive} active, sessions of ${s.sessionTtlSeconds} s?`,
      confirmOpening: (n, t) => `Move ${n}'s opening to ${t}?`,
      confirmClose: (n) => `Close ${n}'s queue? Everyone in line is told it closed; it cannot be opened again.`,
      paused: "Paused", resumed: "Admission resumed", settingsApplied: "Settings applied", openingMoved: "Opening moved",
      closed: (r) => `Queue closed (${r})`, error: "Something went wrong", won: (n) => `${n.toLocaleString()} won`,
      states: { PRE_QUEUE: "Pre-queue", OPEN: "Open", SOLD_OUT: "Sold out", CLOSED: "Closed" },
      pausedTag: "paused",
    },
    ko: {
      console: "운영 콘솔", signOut: "로그아웃", signInTitle: "로그인", signIn: "로그인",
      signInNote: "관리자 토큰은 이 탭에만 보관됩니다.", adminToken: "관리자 토큰",
      refused: "관리자 토큰이 거부되었습니다. 다시 로그인하세요.", concert: "공연",
      noConcerts: "대기열이 열린 공연이 없습니다.", waiting: "대기", active: "입장",
      perMinute: "분당 입장", held: "선점", sold: "판매", sellable: "판매 가능",
      conversion: "결제된 선점", revenue: "매출", lineChart: "대기열", rateChart: "분당 입장",
      seatsChart: "좌석", holdsChart: "선점에서 결제로", controls: "제어",
      pause: "입장 일시 중지", resume: "입장 재개", closeQueue: "대기열 닫기",
      admitPerTick: "틱당 입장", tickMillis: "틱 (ms)", maxActive: "최대 입장", sessionTtl: "세션 (초)",
      apply: "설정 적용", opensAt: "판매 시작 (현지 시각)", moveOpening: "시작 시각 변경",
      draw: "추첨", noDraw: "바로 열린 판매라 사전 대기열 추첨이 없습니다.",
      commitment: "커밋 (시드의 SHA-256)", drawState: "상태", drawn: "추첨 완료", notDrawn: "추첨 전",
      drawOpensAt: "시작", seed: "시드", drawnAt: "추첨 시각", entrants: "추첨 인원",
      measured: "측정값 (30초)", recent: "최근 15초", holdsCreated: "선점", payments: "결제",
      updated: (t) => `${t} 갱신`, stale: (t) => `${t} 이후 갱신 없음`,
      confirmPause: (n) => `${n} 입장을 일시 중지할까요? 재개할 때까지 아무도 입장하지 않습니다.`,
      confirmResume: (n) => `${n} 입장을 재개할까요?`,
      confirmSettings: (n, s) => `${n} 대기열을 ${s.tickMillis} ms마다 ${s.admitPerTick}명, 최대 ${s.maxActive}명, 세션 ${s.sessionTtlSeconds}초로 바꿀까요?`,
      confirmOpening: (n, t) => `${n} 판매 시작을 ${t}(으)로 옮길까요?`,
      confirmClose: (n) => `${n} 대기열을 닫을까요? 대기 중인 모두에게 알리며 다시 열 수 없습니다.`,
      paused: "일시 중지됨", resumed: "입장 재개됨", settingsApplied: "설정 적용됨", openingMoved: "시작 시각 변경됨",
      closed: (r) => `대기열 닫힘 (${r})`, error: "문제가 발생했습니다", won: (n) => `${n.toLocaleString()}원`,
      states: { PRE_QUEUE: "사전 대기", OPEN: "판매 중", SOLD_OUT: "매진", CLOSED: "닫힘" },
      pausedTag: "일시 중지",
    },
  };
  const lang = (navigator.language || "en").toLowerCase().startsWith("ko") ? "ko" : "en";
  const t = (key, ...args) => {
    const v = strings[lang][key] ?? strings.en[key];
    return typeof v === "function" ? v(...args) : v;
  };
  document.documentElement.lang = lang;
  document.title = t("console");
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });

  const $ = (id) => document.getElementById(id);
  const tokenKey = "tix.admin";
  const pollMs = 1500;
  // Ten minutes of samples at the poll interval.
  const keep = Math.ceil(600000 / pollMs);
  const s = { api: null, concerts: [], concertId: null, settings: null, sale: null, timer: null,
    lastOk: 0, drawAt: 0, samples: [], charts: {} };

  const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString());
  function fail(text) { $("error").textContent = text || ""; $("error").classList.toggle("hidden", !text); }
  function notify(text) { $("notice").textContent = text || ""; $("notice").classList.toggle("hidden", !text); }

  // A problem+json answer as an Error carrying its status and `detail`.
  class Refused extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.code = problem && problem.code;
    }
  }

  async function call(url, { method = "GET", body, admin = true } = {}) {
    const headers = {};
    if (admin) headers.Authorization = `Bearer ${sessionStorage.getItem(tokenKey) || ""}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(url, { method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      if (res.status === 401 && admin) signOut(t("refused"));
      throw new Refused(res.status, data);
    }
    return data;
  }
  const apiUrl = async (path) => {
    if (s.api === null) s.api = (await call("/config.json", { admin: false })).apiBaseUrl || "";
    return `${s.api}${path}`;
  };

  // --- sign-in -------------------------------------------------------------------------
  function signOut(why) {
    sessionStorage.removeItem(tokenKey);
    clearTimeout(s.timer);
    s.timer = null;
    // Signing in again chooses (and starts polling) afresh.
    s.concertId = null;
    $("console-view").classList.add("hidden");
    $("sign-out").classList.add("hidden");
    $("sign-in-view").classList.remove("hidden");
    fail(why || "");
  }
  $("sign-in-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(tokenKey, $("admin-token").value.trim());
    $("admin-token").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => signOut());

  // --- charts --------------------------------------------------------------------------
  const palette = { a: "#3056d3", b: "#1f8a4c", c: "#c27c0e", d: "#9aa1ad", e: "#7b3fd1" };
  function chart(id, series) {
    const el = $(id);
    const opts = {
      width: Math.max(200, el.clientWidth), height: 180, legend: { live: false },
      scales: { x: { time: true } },
      axes: [{}, { size: 56 }],
      series: [{}, ...series.map(([label, stroke, extra]) => ({ label, stroke, width: 2, ...extra }))],
    };
    const plot = new uPlot(opts, [[], ...series.map(() => [])], el);
    new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: 180 })).observe(el);
    return plot;
  }
  function makeCharts() {
    s.charts.line = chart("chart-line", [[t("waiting"), palette.a], [t("active"), palette.b]]);
    s.charts.rate = chart("chart-rate", [[t("measured"), palette.a], [t("recent"), palette.c, { dash: [4, 4] }]]);
    s.charts.seats = chart("chart-seats", [[t("held"), palette.c], [t("sold"), palette.d], [t("sellable"), palette.b]]);
    s.charts.holds = chart("chart-holds", [[t("holdsCreated"), palette.c], [t("payments"), palette.e]]);
  }

  // Admissions per minute over the last 15 s of samples, from the admitted total's change
  // (null until two samples that far apart exist, or when the total restarted).
  function recentRate(now, admitted) {
    const past = s.samples.find((x) => now - x.at <= 15000 && x.admitted !== null);
    if (!past || admitted === null || now - past.at < 3000 || admitted < past.admitted) return null;
    return Math.round(((admitted - past.admitted) * 60000) / (now - past.at));
  }

  function draw() {
    const x = s.samples.map((p) => p.at / 1000);
    const col = (f) => s.samples.map(f);
    s.charts.line.setData([x, col((p) => p.waiting), col((p) => p.active)]);
    s.charts.rate.setData([x, col((p) => p.measured), col((p) => p.recent)]);
    s.charts.seats.setData([x, col((p) => p.held), col((p) => p.sold), col((p) => p.sellable)]);
    s.charts.holds.setData([x, col((p) => p.holdsCreated), col((p) => p.payments)]);
    // How many samples the charts show, for whoever checks that they move (the browser test).
    document.querySelectorAll(".chart").forEach((el) => { el.dataset.points = String(x.length); });
  }

  // --- figures -------------------------------------------------------------------------
  const concertName = () => {
    const c = s.concerts.find((c) => c.concertId === s.concertId);
    return c ? `${c.name} (#${c.concertId})` : `#${s.concertId}`;
  };

  async function loadConcerts() {
    const { concerts } = await call("/api/v1/queue/concerts", { admin: false });
    // A concert closed from here drops off the open list; it stays in the picker to watch.
    const current = s.concerts.find((c) => c.concertId === s.concertId);
    s.concerts = concerts;
    if (current && !concerts.some((c) => c.concertId === current.concertId)) s.concerts.push(current);
    const wanted = Number(new URLSearchParams(location.hash.slice(1)).get("concert")) || s.concertId;
    // A concert off the open list (closed, or past the list's length) can still be watched
    // by its link.
    if (wanted && !s.concerts.some((c) => c.concertId === wanted)) s.concerts.push({ concertId: wanted, name: "" });
    const sel = $("concert");
    const options = s.concerts.map((c) => {
      const o = document.createElement("option");
      o.value = c.concertId;
      o.textContent = `#${c.concertId} ${c.name}`.trim();
      return o;
    });
    sel.replaceChildren(...options);
    const pick = s.concerts.find((c) => c.concertId === wanted) || s.concerts[0];
    $("no-concerts").classList.toggle("hidden", s.concerts.length > 0);
    if (pick) { sel.value = pick.concertId; if (pick.concertId !== s.concertId) choose(pick.concertId); }
  }
  $("concert").addEventListener("change", (e) => choose(Number(e.target.value)));

  function choose(concertId) {
    s.concertId = concertId;
    s.samples = [];
    s.settings = null;
    s.drawAt = 0;
    history.replaceState(null, "", `#concert=${concertId}`);
    draw();
    poll();
  }

  async function refresh() {
    const id = s.concertId;
    // The api's address first: a call started before an await would reject unobserved.
    const salesUrl = await apiUrl(`/api/v1/admin/concerts/${id}/sales`);
    const [queue, sale] = await Promise.all([call(`/api/v1/admin/queues/${id}`), call(salesUrl)]);
    if (id !== s.concertId) return;
    const stats = queue.line;
    const now = Date.now();
    const admitted = queue.admitted;
    s.samples.push({ at: now, waiting: stats.waiting, active: stats.active, measured: stats.admittedPerMinute,
      recent: recentRate(now, admitted), admitted, held: sale.held, sold: sale.sold, sellable: sale.sellable,
      holdsCreated: sale.holdsCreated, payments: sale.payments });
    if (s.samples.length > keep) s.samples.splice(0, s.samples.length - keep);
    s.settings = queue.settings;
    s.sale = sale;
    s.stats = stats;
    show(stats, sale);
    draw();
    if (now - s.drawAt > 10000 || !s.draw) await loadDraw();
  }

  function show(stats, sale) {
    const last = s.samples[s.samples.length - 1];
    $("f-waiting").textContent = fmt(stats.waiting);
    $("f-active").textContent = fmt(stats.active);
    $("f-rate").textContent = fmt(last.recent ?? stats.admittedPerMinute);
    $("f-held").textContent = fmt(sale.held);
    $("f-sold").textContent = `${fmt(sale.sold)} / ${fmt(sale.seatsTotal)}`;
    $("f-sellable").textContent = fmt(sale.sellable);
    $("f-conversion").textContent = sale.holdsCreated > 0
      ? `${fmt(sale.payments)} / ${fmt(sale.holdsCreated)} (${Math.round((100 * Math.min(sale.payments, sale.holdsCreated)) / sale.holdsCreated)}%)`
      : fmt(sale.payments);
    $("f-revenue").textContent = t("won", sale.revenue);
    const state = t("states")[stats.state] || stats.state;
    $("sale-state").textContent = stats.paused ? `${state} · ${t("pausedTag")}` : state;
    $("sale-state").dataset.state = stats.paused ? "PAUSED" : stats.state;
    $("pause").textContent = stats.paused ? t("resume") : t("pause");
    $("pause").dataset.paused = String(stats.paused);
    const over = stats.state === "CLOSED" || stats.state === "SOLD_OUT";
    ["pause", "close", "apply-settings"].forEach((b) => { $(b).disabled = over || !s.settings; });
    $("move-opening").disabled = stats.state !== "PRE_QUEUE";
    // Fill the settings form from the settings in force, unless the operator is editing it.
    const form = $("settings-form");
    if (s.settings && !form.contains(document.activeElement)) {
      $("s-admit").value = s.settings.admitPerTick;
      $("s-tick").value = s.settings.tickMillis;
      $("s-max").value = s.settings.maxActive;
      $("s-ttl").value = s.settings.sessionTtlSeconds;
    }
    if (stats.opensAt && !$("opening-form").contains(document.activeElement)) $("opens-at").value = localInput(stats.opensAt);
    $("opening-form").classList.toggle("hidden", !stats.opensAt);
  }

  // An RFC 3339 time as a datetime-local input's value, in the browser's zone.
  function localInput(iso) {
    const d = new Date(iso);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  }

  async function loadDraw() {
    s.drawAt = Date.now();
    const dl = $("draw");
    const rows = [];
    try {
      // Asked for one (no) entrant's place: the answer then leaves out the whole drawn order,
      // which the console does not show and which may be long.
      const d = await call(`/api/v1/queue/${s.concertId}/draw?entrant=${"0".repeat(64)}`, { admin: false });
      s.draw = d;
      rows.push([t("drawOpensAt"), new Date(d.opensAt).toLocaleString()], [t("commitment"), d.commitment],
        [t("drawState"), d.drawn ? t("drawn") : t("notDrawn")]);
      if (d.drawn) rows.push([t("drawnAt"), new Date(d.drawnAt).toLocaleString()], [t("seed"), d.seed], [t("entrants"), fmt(d.count)]);
    } catch (e) {
      if (e.status !== 404) throw e;
      s.draw = { none: true };
      rows.push(["", t("noDraw")]);
    }
    dl.replaceChildren(...rows.flatMap(([k, v]) => {
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      if (/^[0-9a-f]{64}$/.test(v)) {
        const code = document.createElement("code");
        code.textContent = v;
        dd.append(code);
      } else {
        dd.textContent = v;
      }
      return [dt, dd];
    }));
  }

  async function poll() {
    clearTimeout(s.timer);
    if (!sessionStorage.getItem(tokenKey) || s.concertId === null) return;
    try {
      await refresh();
      s.lastOk = Date.now();
      $("updated").textContent = t("updated", new Date().toLocaleTimeString());
      if (!$("error").dataset.action) fail("");
    } catch (e) {
      if (!sessionStorage.getItem(tokenKey)) return;
      $("updated").textContent = s.lastOk ? t("stale", new Date(s.lastOk).toLocaleTimeString()) : "";
      if (!$("error").dataset.action) fail(`${t("error")}: ${e.message}`);
    }
    s.timer = setTimeout(poll, pollMs);
  }

  // --- controls ------------------------------------------------------------------------
  // Asks first; runs `act`; answers with `done` (of what `act` returned) or the problem's
  // detail (kept until the next control is used, so a poll does not wipe it).
  async function control(question, act, done) {
    if (!window.confirm(question)) return;
    delete $("error").dataset.action;
    fail("");
    notify("");
    try {
      notify(done(await act()));
    } catch (e) {
      $("error").dataset.action = "1";
      fail(e.message);
    }
    poll();
  }
  const settingsUrl = () => `/api/v1/admin/queues/${s.concertId}`;

  $("pause").addEventListener("click", () => {
    const pausing = $("pause").dataset.paused !== "true";
    control(pausing ? t("confirmPause", concertName()) : t("confirmResume", concertName()),
      async () => {
        // The settings in force with only `paused` changed (read again: another operator may
        // have changed them meanwhile).
        const { settings } = await call(settingsUrl());
        await call(settingsUrl(), { method: "PUT", body: { ...settings, paused: pausing } });
      },
      () => (pausing ? t("paused") : t("resumed")));
  });

  $("settings-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const body = { admitPerTick: Number($("s-admit").value), tickMillis: Number($("s-tick").value),
      maxActive: Number($("s-max").value), sessionTtlSeconds: Number($("s-ttl").value), paused: s.settings ? s.settings.paused : false };
    control(t("confirmSettings", concertName(), body),
      () => call(settingsUrl(), { method: "PUT", body }).then(() => document.activeElement.blur()),
      () => t("settingsApplied"));
  });

  $("opening-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const when = new Date($("opens-at").value);
    control(t("confirmOpening", concertName(), when.toLocaleString()),
      () => call(`${settingsUrl()}/opening`, { method: "PUT", body: { opensAt: when.toISOString() } })
        .then(() => { s.drawAt = 0; document.activeElement.blur(); }),
      () => t("openingMoved"));
  });

  $("close").addEventListener("click", () => {
    control(t("confirmClose", concertName()),
      async () => call(await apiUrl(`/api/v1/admin/concerts/${s.concertId}/close`), { method: "POST" }),
      (closed) => t("closed", closed.closeReason));
  });

  // --- start ---------------------------------------------------------------------------
  async function start() {
    if (!sessionStorage.getItem(tokenKey)) { signOut(); return; }
    $("sign-in-view").classList.add("hidden");
    $("console-view").classList.remove("hidden");
    $("sign-out").classList.remove("hidden");
    fail("");
    if (!s.charts.line) makeCharts();
    try {
      await loadConcerts();
    } catch (e) {
      fail(`${t("error")}: ${e.message}`);
    }
  }
  start();
  // New concerts appear in the picker without a reload.
  setInterval(() => { if (sessionStorage.getItem(tokenKey)) loadConcerts().catch(() => {}); }, 15000);
})();
