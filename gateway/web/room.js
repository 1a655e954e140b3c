// The waiting room and booking page of one concert: sign in (the development login), join
// (the place is kept in localStorage, so a refresh keeps it), poll status on the server's
// pollAfterMs, then book once ACTIVE.
(function () {
  applyI18n();
  const $ = (id) => document.getElementById(id);
  const concertId = Number(location.pathname.split("/").filter(Boolean).pop());
  const tokenKey = `tix.queue.${concertId}`;
  const maxSeats = 4;
  const s = { api: "", queueToken: localStorage.getItem(tokenKey), access: null, first: null, schedule: null,
    selected: new Set(), reservation: null, pollTimer: null, countdown: null, backoff: 1000 };

  const show = (view) => ["join-view", "wait-view", "book-view", "confirmation"].forEach((v) => $(v).classList.toggle("hidden", v !== view));
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
  // The identity token of the development login, kept under tix.identity while it is valid
  // for this user (its payload is read only to choose whether to sign in again; the gateway
  // verifies it).
  const identityKey = "tix.identity";
  function storedIdentity(userId) {
    const token = localStorage.getItem(identityKey);
    try {
      const b64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(b64));
      return claims.sub === userId && claims.exp * 1000 > Date.now() + 60000 ? token : null;
    } catch (e) {
      return null;
    }
  }

  async function signIn(userId) {
    const stored = storedIdentity(userId);
    if (stored) return stored;
    const r = await gw("/api/v1/dev/login", { method: "POST", body: JSON.stringify({ userId }) });
    if (r.status === 404) throw new Error(t("noDevLogin"));
    if (r.status !== 200) throw new Error(problem(r));
    localStorage.setItem(identityKey, r.body.identityToken);
    return r.body.identityToken;
  }

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
        localStorage.removeItem(identityKey);
      }
      if (r.status !== 200 && r.status !== 201) return fail(problem(r));
      s.queueToken = r.body.queueToken;
      localStorage.setItem(tokenKey, s.queueToken);
      fail("");
      onStatus(r.body);
    } catch (e) {
      fail(t("network"), join);
    }
  }

  function onStatus(st) {
    clearTimeout(s.pollTimer);
    s.backoff = 1000;
    $("rejoin").classList.add("hidden");
    if (st.status === "WAITING") {
      show("wait-view");
      s.first = s.first || Number(sessionStorage.getItem(`${tokenKey}.first`)) || st.position;
      sessionStorage.setItem(`${tokenKey}.first`, s.first);
      $("position").textContent = st.position;
      $("ahead").textContent = Math.max(0, st.position - 1);
      $("eta").textContent = t("minutes", st.estimatedWaitSeconds);
      $("progress").value = Math.round(100 * (1 - (st.position - 1) / Math.max(1, s.first)));
      say(st.paused ? t("paused") : t("moved", st.position));
      s.pollTimer = setTimeout(poll, st.pollAfterMs);
    } else if (st.status === "ACTIVE") {
      s.access = st.accessToken;
      sessionStorage.setItem(`${tokenKey}.access`, s.access);
      $("session-end").textContent = new Date(st.accessTokenExpiresAt).toLocaleTimeString();
      say(t("admitted"));
      startBooking();
    } else {
      show("wait-view");
      say(t("expired"));
      $("rejoin").classList.remove("hidden");
      localStorage.removeItem(tokenKey);
    }
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
    show("confirmation");
  }

  $("join-form").onsubmit = join;
  $("leave").onclick = leave;
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
