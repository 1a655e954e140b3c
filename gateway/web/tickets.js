// "My tickets": every ticket the signed-in fan bought (GET /api/v1/tickets with the identity
// token), newest first; without a valid identity token, the development sign-in first.
(function () {
  applyI18n();
  const $ = (id) => document.getElementById(id);
  function fail(text) {
    $("error").textContent = text;
    $("error").classList.toggle("hidden", !text);
  }

  async function show(token) {
    const r = await tixAccount.fetchTickets(token);
    if (r.status === 401) {
      localStorage.removeItem(tixAccount.identityKey);
      return signInForm();
    }
    if (r.status !== 200) return fail(r.detail || `${t("error")} (${r.status})`);
    fail("");
    $("dev-sign-in").classList.add("hidden");
    $("signed-in").classList.remove("hidden");
    $("signed-in-as").textContent = t("signedInAs", tixAccount.claims(token).sub);
    tixAccount.renderTickets($("tickets"), r.tickets);
    $("tickets-table").classList.toggle("hidden", r.tickets.length === 0);
    $("no-tickets").classList.toggle("hidden", r.tickets.length > 0);
  }

  function signInForm() {
    $("signed-in").classList.add("hidden");
    $("dev-sign-in").classList.remove("hidden");
    $("user-id").value = localStorage.getItem("tix.user") || "";
  }

  $("sign-in-form").onsubmit = async (event) => {
    event.preventDefault();
    const userId = $("user-id").value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(userId)) return fail(t("badUser"));
    try {
      localStorage.setItem("tix.user", userId);
      await show(await tixAccount.signIn(userId));
    } catch (e) {
      fail(e.message || t("signInFailed"));
    }
  };
  $("sign-out").onclick = () => {
    localStorage.removeItem(tixAccount.identityKey);
    signInForm();
  };

  const token = tixAccount.storedIdentity();
  (token ? show(token) : Promise.resolve(signInForm())).catch(() => fail(t("network")));
})();
