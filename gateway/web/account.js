// The signed-in fan, shared by the pages: the identity token of the development login kept
// under tix.identity (its payload is read only to choose whether to sign in again; the
// servers verify it), and the fan's tickets from the api (GET /api/v1/tickets).
(function () {
  const identityKey = "tix.identity";

  function claims(token) {
    try {
      const b64 = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(b64));
    } catch (e) {
      return null;
    }
  }

  // The stored identity token while it is valid for another minute (and names `userId`,
  // when given).
  function storedIdentity(userId) {
    const token = localStorage.getItem(identityKey);
    const c = token && claims(token);
    if (!c || c.exp * 1000 <= Date.now() + 60000) return null;
    return userId === undefined || c.sub === userId ? token : null;
  }

  async function signIn(userId) {
    const stored = storedIdentity(userId);
    if (stored) return stored;
    const res = await fetch("/api/v1/dev/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ userId }) });
    if (res.status === 404) throw new Error(t("noDevLogin"));
    const body = await res.json().catch(() => null);
    if (res.status !== 200) throw new Error((body && body.detail) || t("signInFailed"));
    localStorage.setItem(identityKey, body.identityToken);
    return body.identityToken;
  }

  let apiBase = null;
  async function apiBaseUrl() {
    if (apiBase === null) apiBase = (await (await fetch("/config.json")).json()).apiBaseUrl;
    return apiBase;
  }

  // { status, tickets } of the bearer `token` (an identity token, or an access token).
  async function fetchTickets(token) {
    const res = await fetch(`${await apiBaseUrl()}/api/v1/tickets`, { headers: { Authorization: `Bearer ${token}` } });
    const body = await res.json().catch(() => null);
    return { status: res.status, tickets: res.status === 200 ? body.tickets : [], detail: body && body.detail };
  }

  // The tickets as the rows of `tbody` (concert, date, seat, price, bought, payment).
  function renderTickets(tbody, tickets) {
    tbody.replaceChildren(...tickets.map((tk) => {
      const tr = document.createElement("tr");
      tr.dataset.ticketId = tk.ticketId;
      const cells = [tk.concertName, new Date(tk.startsAt).toLocaleString(), t("seat", tk.seatNumber), t("won", tk.price),
        new Date(tk.purchasedAt).toLocaleString()];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      const td = document.createElement("td");
      const code = document.createElement("code");
      code.textContent = tk.paymentId.slice(0, 8);
      code.title = tk.paymentId;
      td.append(code);
      tr.append(td);
      return tr;
    }));
  }

  window.tixAccount = { identityKey, claims, storedIdentity, signIn, apiBaseUrl, fetchTickets, renderTickets };
})();
