// The waiting room and booking page of one concert: sign in (the development login), join
// (the place is kept in localStorage, so a refresh keeps it), follow the status as it is
// pushed (server-sent events), or where that fails poll it on the server's pollAfterMs: the
// countdown to the opening (PRE_QUEUE), the place drawn at the opening, the
// place in line (WAITING), then book once ACTIVE while the session counts down; SOLD_OUT,
// CLOSED and EXPIRED are final (the stream closes, polling stops). After a payment, the fan's tickets.
(function () {
  applyI18n();
  const $ = (id) => document.getElementById(id);
  const concertId = Number(location.pathname.split("/").filter(Boolean).pop());
  const tokenKey = `tix.queue.${concertId}`;
  const maxSeats = 4;
  // The user a queue token was taken for (the draw names entrants by concert and user), and
  // the pre-queue entry and drawn place of this concert, kept across refreshes.
  const userKey = `${tokenKey}.user`;
  const preKey = `tix.pre.${concertId}`;
  const drawKey = `tix.draw.${concertId}`;
  const s = { api: "", queueToken: localStorage.getItem(tokenKey), access: null, first: null, schedule: null,
    selected: new Set(), reservation: null, pollTimer: null, countdown: null, backoff: 1000,
    opensTimer: null, sessionTimer: null, sessionOver: false, drawLookup: false, commitmentShown: false, restoreTried: false,
    events: null, eventsFailed: false, eventErrors: 0 };

  const views = ["join-view", "pre-view", "wait-view", "book-view", "confirmation", "final-view"];
  const show = (view) => {
    views.forEach((v) => $(v).classList.toggle("hidden", v !== view));
    $("draw-box").classList.toggle("hidden", !($("drawn-place").textContent && ["wait-view", "book-view"].includes(view)));
  };
  // 75 -> "1:15"; an hour or more -> "1:02:03".
  const clock = (secs) => {
    const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), sec = String(secs % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  };
  const say = (text) => { $("status-message").textContent = text; $("status-message").classList.toggle("hidden", !text); };
  function fail(text, retry) {
    $("error-text").textContent = text;
    $("error").classList.toggle("hidden", !text);
    $("retry").classList.toggle("hidden", !retry);
    $("retry").onclick = retry || null;
  }
  const key = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

  async function call(base, path, opts = {}) {
    const headers = Object.assign({ "Content-Type": "application/json" }, opts.headers || {});
    const res = await fetch(base + path, Object.assign({}, opts, { headers }));
    const body = res.status === 204 || res.status === 304 ? null : await res.json().catch(() => null);
    return { status: res.status, body, etag: res.headers.get("ETag") };
  }
  const gw = (path, opts) => call("", path, opts);
  const api = (path, opts = {}) => call(s.api, path, Object.assign({}, opts, {
    headers: Object.assign({ Authorization: `Bearer ${s.access}` }, opts.headers || {}) }));
  const problem = (r) => (r.body && r.body.detail) || `${t("error")} (${r.status})`;

  // ---- waiting room ----
  const signIn = (userId) => tixAccount.signIn(userId);

  async function join(event) {
    if (event) event.preventDefault();
    const userId = $("user-id").value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(userId)) return fail(t("badUser"));
    localStorage.setItem("tix.user", userId);
    try {
      let r;
      // A refused identity (expired, or signed with a key the server no longer has) is
      // dropped and signed in again, once.
      for (let attempt = 0; attempt < 2; attempt++) {
        let identity;
        try {
          identity = await signIn(userId);
        } catch (e) {
          return fail(e.message || t("signInFailed"));
        }
        r = await gw("/api/v1/queue/tokens", { method: "POST", headers: { Authorization: `Bearer ${identity}` },
          body: JSON.stringify({ concertId }) });
        if (r.status !== 401) break;
        localStorage.removeItem(tixAccount.identityKey);
      }
      if (r.status === 409 && r.body && r.body.code === "SOLD_OUT") return finish("soldOut");
      if (r.status === 409 && r.body && r.body.code === "QUEUE_CLOSED") return finish("closed");
      if (r.status !== 200 && r.status !== 201) return fail(problem(r));
      s.queueToken = r.body.queueToken;
      localStorage.setItem(tokenKey, s.queueToken);
      localStorage.setItem(userKey, userId);
      // A new place after the opening is first come, first served: an earlier draw is history.
      if (r.status === 201 && r.body.status !== "PRE_QUEUE") [preKey, drawKey].forEach((k) => localStorage.removeItem(k));
      fail("");
      onStatus(r.body);
    } catch (e) {
      fail(t("network"), join);
    }
  }

  function onStatus(st) {
    clearTimeout(s.pollTimer);
    s.backoff = 1000;
    // A pre-queue entry drawn into its place in line comes with the token to use from now on
    // (a stream opened with the old one is opened again with it).
    if (st.queueToken && st.queueToken !== s.queueToken) {
      s.queueToken = st.queueToken;
      localStorage.setItem(tokenKey, s.queueToken);
      closeEvents();
    }
    if (st.status !== "PRE_QUEUE") stopOpeningCountdown();
    if (st.status === "PRE_QUEUE") {
      localStorage.setItem(preKey, localStorage.getItem(userKey) || "");
      show("pre-view");
      startOpeningCountdown(st.opensAt);
      showCommitment();
      follow(st.pollAfterMs);
    } else if (st.status === "WAITING") {
      show("wait-view");
      s.first = s.first || Number(sessionStorage.getItem(`${tokenKey}.first`)) || st.position;
      sessionStorage.setItem(`${tokenKey}.first`, s.first);
      $("position").textContent = st.position;
      $("ahead").textContent = Math.max(0, st.position - 1);
      $("eta").textContent = t("minutes", st.estimatedWaitSeconds);
      $("progress").value = Math.round(100 * (1 - (st.position - 1) / Math.max(1, s.first)));
      $("seats-note").classList.toggle("hidden", !st.waitingForSeats);
      say(st.paused ? t("paused") : t("moved", st.position));
      findDrawnPlace();
      follow(st.pollAfterMs);
    } else if (st.status === "ACTIVE") {
      closeEvents();
      s.access = st.accessToken;
      sessionStorage.setItem(`${tokenKey}.access`, s.access);
      startSessionCountdown(st.accessTokenExpiresAt);
      say(t("admitted"));
      findDrawnPlace();
      startBooking();
    } else if (st.status === "SOLD_OUT") {
      finish("soldOut");
    } else if (st.status === "CLOSED") {
      finish("closed");
    } else if (!s.restoreTried && sessionStorage.getItem(`${tokenKey}.access`)) {
      // Redis may have lost the session: a booking request with the access token of before
      // brings it back once (the api restores it until the token's expiry), and the status
      // says ACTIVE again. A token that has expired, or a session that really ended, stays ended.
      s.restoreTried = true;
      s.access = sessionStorage.getItem(`${tokenKey}.access`);
      api(`/api/v1/concerts/${concertId}/schedules`)
        .then((r) => (r.status === 200 ? poll() : finish("expired")))
        .catch(() => finish("expired"));
    } else {
      finish("expired");
    }
  }

  // A final state: nothing more to poll or count down; the place is forgotten.
  function finish(kind) {
    clearTimeout(s.pollTimer);
    closeEvents();
    clearInterval(s.countdown);
    clearInterval(s.sessionTimer);
    stopOpeningCountdown();
    localStorage.removeItem(tokenKey);
    s.access = null;
    const [title, note] = { soldOut: ["soldOut", "soldOutNote"], closed: ["closed", "closedNote"],
      expired: ["sessionEndedTitle", "sessionEndedNote"] }[kind];
    $("final-title").textContent = t(title);
    $("final-note").textContent = t(note);
    $("final-view").dataset.state = kind;
    $("rejoin").classList.toggle("hidden", kind !== "expired");
    say("");
    show("final-view");
  }

  // ---- the opening and its draw ----
  function startOpeningCountdown(opensAt) {
    const at = new Date(opensAt).getTime();
    $("opens-at").textContent = t("opensAt", new Date(at).toLocaleString());
    clearInterval(s.opensTimer);
    const tick = () => {
      const left = Math.max(0, Math.ceil((at - Date.now()) / 1000));
      $("opens-in").textContent = clock(left);
      // Past the opening the entry stays PRE_QUEUE for a moment, until the draw is applied.
      say(left === 0 ? t("drawing") : "");
    };
    tick();
    s.opensTimer = setInterval(tick, 250);
  }

  function stopOpeningCountdown() {
    clearInterval(s.opensTimer);
    s.opensTimer = null;
  }

  const drawUrl = `/api/v1/queue/${concertId}/draw`;

  async function showCommitment() {
    if (s.commitmentShown) return;
    s.commitmentShown = true;
    try {
      const r = await gw(drawUrl);
      if (r.status !== 200) throw new Error(problem(r));
      $("commitment").textContent = `${r.body.commitment.slice(0, 16)}…`;
      $("commitment").title = r.body.commitment;
    } catch (e) {
      s.commitmentShown = false;
    }
  }

  // Hex SHA-256 of "<concertId>:<userId>": the id the published draw names the fan by.
  async function entrantId(userId) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${concertId}:${userId}`));
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  function showDrawnPlace(found) {
    $("drawn-place").textContent = found.place ? t("drawnPlace", found.place, found.of) : t("drawNotFound");
    $("entrant-id").textContent = found.entrant;
    const visible = !$("wait-view").classList.contains("hidden") || !$("book-view").classList.contains("hidden");
    $("draw-box").classList.toggle("hidden", !visible);
  }

  // Once the sale opened, a fan who was in the pre-queue finds their drawn place in the
  // published draw (asked once; the answer is kept for refreshes).
  async function findDrawnPlace() {
    const user = localStorage.getItem(preKey);
    if (!user) return;
    try {
      const saved = JSON.parse(localStorage.getItem(drawKey) || "null");
      if (saved && saved.user === user) return showDrawnPlace(saved);
    } catch (e) { /* recomputed below */ }
    if (s.drawLookup || !(window.crypto && crypto.subtle)) return;
    s.drawLookup = true;
    try {
      // One fan's place (`?entrant=`), not the whole published order.
      const entrant = await entrantId(user);
      const r = await gw(`${drawUrl}?entrant=${entrant}`);
      if (r.status !== 200 || !r.body.drawn) throw new Error("not drawn yet");
      const found = { user, entrant, place: r.body.place || 0, of: r.body.count };
      localStorage.setItem(drawKey, JSON.stringify(found));
      showDrawnPlace(found);
    } catch (e) {
      s.drawLookup = false; // asked again with the next status
    }
  }

  // ---- the session ----
  function startSessionCountdown(expiresAt) {
    const end = new Date(expiresAt).getTime();
    $("session-end").textContent = `(${t("sessionEndsAt", new Date(end).toLocaleTimeString())})`;
    clearInterval(s.sessionTimer);
    s.sessionOver = false;
    const tick = () => {
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      $("session-left").textContent = clock(left);
      $("session-left").classList.toggle("urgent", left <= 60);
      $("session-warning").classList.toggle("hidden", left > 60 || left === 0);
      if (left === 0) {
        clearInterval(s.sessionTimer);
        s.sessionOver = true;
        $("back-to-seats").classList.add("hidden");
        // A fan who paid keeps the confirmation on screen; anyone else is told it ended.
        if ($("confirmation").classList.contains("hidden")) finish("expired");
      }
    };
    tick();
    s.sessionTimer = setInterval(tick, 250);
  }

  // ---- following the status ----
  // Pushed by server-sent events while they work; else polled. EventSource cannot send
  // headers, so the token goes in the query (the gateway never logs it). A stream that fails
  // before its first event (blocked, or a proxy that does not pass it) or three times in a
  // row falls back to polling for the rest of the visit; one that drops once reconnects by
  // itself (with Last-Event-ID: the gateway then sends only what changed).
  function follow(pollAfterMs) {
    if (s.events) return;
    if (s.eventsFailed || !window.EventSource) {
      document.body.dataset.live = "poll";
      s.pollTimer = setTimeout(poll, pollAfterMs);
      return;
    }
    const es = new EventSource(`/api/v1/queue/events?token=${encodeURIComponent(s.queueToken)}`);
    let heard = false;
    s.events = es;
    document.body.dataset.live = "sse";
    es.onmessage = (e) => {
      heard = true;
      s.eventErrors = 0;
      let st;
      try {
        st = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      fail("");
      onStatus(st);
    };
    es.onerror = () => {
      if (s.events !== es) return;
      s.eventErrors += 1;
      if (heard && s.eventErrors < 3 && es.readyState !== EventSource.CLOSED) return;
      closeEvents();
      s.eventsFailed = true;
      document.body.dataset.live = "poll";
      poll();
    };
  }

  function closeEvents() {
    if (!s.events) return;
    s.events.close();
    s.events = null;
  }

  async function poll() {
    try {
      const r = await gw("/api/v1/queue/status", { headers: { Authorization: `Bearer ${s.queueToken}` } });
      if (r.status === 401) {
        localStorage.removeItem(tokenKey);
        return show("join-view");
      }
      if (r.status !== 200) throw new Error(problem(r));
      fail("");
      onStatus(r.body);
    } catch (e) {
      fail(t("network"), () => { clearTimeout(s.pollTimer); poll(); });
      s.backoff = Math.min(s.backoff * 2, 15000);
      s.pollTimer = setTimeout(poll, s.backoff);
    }
  }

  async function leave() {
    clearTimeout(s.pollTimer);
    closeEvents();
    stopOpeningCountdown();
    await gw("/api/v1/queue/tokens", { method: "DELETE", headers: { Authorization: `Bearer ${s.queueToken}` } }).catch(() => {});
    localStorage.removeItem(tokenKey);
    s.queueToken = null;
    say("");
    show("join-view");
  }

  // ---- booking ----
  async function startBooking() {
    show("book-view");
    await Promise.all([loadSchedules(), loadBalance()]);
  }

  function sessionEnded(r) {
    if (r.status === 403 || r.status === 401) {
      fail(t("sessionEnded"));
      return true;
    }
    return false;
  }

  async function loadSchedules() {
    const r = await api(`/api/v1/concerts/${concertId}/schedules`);
    if (sessionEnded(r)) return;
    if (r.status !== 200) return fail(problem(r));
    $("schedules").replaceChildren(...r.body.schedules.map((sc) => {
      const b = document.createElement("button");
      b.className = "secondary";
      b.dataset.scheduleId = sc.scheduleId;
      b.textContent = `${new Date(sc.startsAt).toLocaleString()} · ${sc.availableSeats} ${t("available")}`;
      b.onclick = () => selectSchedule(sc.scheduleId);
      return b;
    }));
    if (r.body.schedules.length) selectSchedule(s.schedule || r.body.schedules[0].scheduleId);
  }

  async function selectSchedule(id) {
    s.schedule = id;
    s.selected.clear();
    document.querySelectorAll("#schedules button").forEach((b) => b.classList.toggle("active", Number(b.dataset.scheduleId) === id));
    await loadSeats();
  }

  // The map on screen and its ETag: a refresh of the same schedule sends it back, and a 304
  // (nothing held, released, lapsed or sold since) leaves the map as it is.
  let shown = { schedule: null, etag: null };
  async function loadSeats() {
    const same = shown.schedule === s.schedule && shown.etag;
    const r = await api(`/api/v1/concerts/${concertId}/schedules/${s.schedule}/seats`,
      same ? { headers: { "If-None-Match": shown.etag } } : {});
    if (sessionEnded(r)) return;
    if (r.status === 304) {
      // Unchanged seats, but the selection may have been cleared since.
      document.querySelectorAll("#seat-map button").forEach((b) => {
        const on = s.selected.has(Number(b.dataset.seatId));
        b.classList.toggle("selected", on);
        b.setAttribute("aria-pressed", on);
      });
      return updateHoldButton();
    }
    if (r.status !== 200) return fail(problem(r));
    shown = { schedule: s.schedule, etag: r.etag };
    $("seat-map").replaceChildren(...r.body.seats.map((seat) => {
      const b = document.createElement("button");
      const status = seat.mine ? "MINE" : seat.status;
      b.dataset.seatId = seat.seatId;
      b.dataset.status = status;
      b.textContent = seat.seatNumber;
      b.title = `${t("seat", seat.seatNumber)} · ${t("won", seat.price)}`;
      b.setAttribute("aria-pressed", s.selected.has(seat.seatId));
      b.disabled = status !== "AVAILABLE";
      if (s.selected.has(seat.seatId)) b.classList.add("selected");
      b.onclick = () => toggle(seat.seatId, b);
      return b;
    }));
    updateHoldButton();
  }

  function toggle(id, button) {
    if (s.selected.has(id)) s.selected.delete(id);
    else if (s.selected.size >= maxSeats) return say(t("maxSeats", maxSeats));
    else s.selected.add(id);
    button.classList.toggle("selected", s.selected.has(id));
    button.setAttribute("aria-pressed", s.selected.has(id));
    updateHoldButton();
  }

  function updateHoldButton() {
    $("hold").disabled = s.selected.size === 0 || !!s.reservation;
  }

  async function hold() {
    const r = await api("/api/v1/reservations", { method: "POST", body: JSON.stringify({ scheduleId: s.schedule, seatIds: [...s.selected] }) });
    if (r.status === 201) {
      s.reservation = r.body;
      s.payKey = key();
      s.selected.clear();
      fail("");
      showHold();
    } else if (r.status === 409 && r.body && r.body.code === "SEAT_UNAVAILABLE") {
      s.selected.clear();
      fail(t("taken"));
    } else if (r.status === 409 && r.body && r.body.code === "TICKET_LIMIT") {
      s.selected.clear();
      fail(t("ticketLimit", r.body.remaining));
    } else if (r.status === 409) {
      fail(t("holdExists"));
    } else if (!sessionEnded(r)) {
      fail(problem(r));
    }
    await loadSeats();
  }

  function showHold() {
    $("hold-box").classList.remove("hidden");
    $("hold-total").textContent = t("won", s.reservation.totalPrice);
    clearInterval(s.countdown);
    const tick = () => {
      const left = Math.max(0, Math.round((new Date(s.reservation.expiresAt) - Date.now()) / 1000));
      $("countdown").textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      if (left === 0) {
        clearInterval(s.countdown);
        s.reservation = null;
        $("hold-box").classList.add("hidden");
        say(t("holdExpired"));
        loadSeats();
      }
    };
    tick();
    s.countdown = setInterval(tick, 1000);
    updateHoldButton();
  }

  async function release() {
    await api(`/api/v1/reservations/${s.reservation.reservationId}`, { method: "DELETE" });
    clearInterval(s.countdown);
    s.reservation = null;
    $("hold-box").classList.add("hidden");
    await loadSeats();
  }

  async function loadBalance() {
    const r = await api("/api/v1/balance");
    if (r.status === 200) $("balance").textContent = t("won", r.body.balance);
  }

  async function charge(event) {
    event.preventDefault();
    const amount = Number($("charge-amount").value);
    const r = await api("/api/v1/balance/charge", { method: "POST", headers: { "Idempotency-Key": key() }, body: JSON.stringify({ amount }) });
    if (r.status !== 200) return fail(problem(r));
    fail("");
    $("balance").textContent = t("won", r.body.balance);
  }

  async function pay() {
    // One key per reservation: a retry after a lost answer cannot pay twice.
    const r = await api("/api/v1/payments", { method: "POST", headers: { "Idempotency-Key": s.payKey },
      body: JSON.stringify({ reservationId: s.reservation.reservationId }) });
    if (r.status === 402) return fail(t("poor"));
    if (r.status === 409 && r.body && r.body.code === "TICKET_LIMIT") return fail(t("ticketLimit", r.body.remaining));
    if (r.status !== 201) return fail(problem(r));
    clearInterval(s.countdown);
    fail("");
    say("");
    $("tickets").replaceChildren(...s.reservation.seats.map((seat) => {
      const li = document.createElement("li");
      li.textContent = `${t("seat", seat.seatNumber)} · ${t("won", seat.price)}`;
      return li;
    }));
    $("paid-total").textContent = t("won", r.body.amount);
    $("payment-id").textContent = r.body.paymentId;
    localStorage.removeItem(tokenKey);
    s.reservation = null;
    $("hold-box").classList.add("hidden");
    $("back-to-seats").classList.toggle("hidden", s.sessionOver);
    show("confirmation");
    await showMyTickets();
  }

  // The fan's tickets (every concert), with the identity token the fan signed in with, else
  // the session's access token.
  async function showMyTickets() {
    const user = localStorage.getItem(userKey) || localStorage.getItem("tix.user");
    const token = tixAccount.storedIdentity(user || undefined) || s.access;
    if (!token) return;
    const r = await tixAccount.fetchTickets(token).catch(() => null);
    if (!r || r.status !== 200) return;
    tixAccount.renderTickets($("my-tickets"), r.tickets);
    $("my-tickets-box").classList.remove("hidden");
  }

  async function backToSeats() {
    $("my-tickets-box").classList.add("hidden");
    show("book-view");
    await Promise.all([loadSeats(), loadBalance()]);
  }

  $("join-form").onsubmit = join;
  $("leave").onclick = leave;
  $("pre-leave").onclick = leave;
  $("back-to-seats").onclick = backToSeats;
  $("commitment-link").href = drawUrl;
  $("draw-link").href = drawUrl;
  $("rejoin").onclick = () => join();
  $("hold").onclick = hold;
  $("pay").onclick = pay;
  $("release").onclick = release;
  $("charge-form").onsubmit = charge;
  $("user-id").value = localStorage.getItem("tix.user") || `guest-${Math.random().toString(36).slice(2, 8)}`;

  (async () => {
    try {
      s.api = (await (await fetch("/config.json")).json()).apiBaseUrl;
    } catch (e) {
      fail(t("network"), () => location.reload());
    }
    if (s.queueToken) poll();
    else show("join-view");
    fetch("/api/v1/queue/concerts").then((r) => r.json()).then(({ concerts }) => {
      const c = concerts.find((x) => x.concertId === concertId);
      if (c) $("concert-name").textContent = c.name;
    }).catch(() => {});
  })();
})();
