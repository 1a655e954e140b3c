// The open concerts, each with a link to its waiting room; refreshed every 10 s.
(function () {
  applyI18n();
  const list = document.getElementById("concerts");
  async function load() {
    try {
      const res = await fetch("/api/v1/queue/concerts");
      if (!res.ok) throw new Error((await res.json()).detail);
      const { concerts } = await res.json();
      list.replaceChildren(...concerts.map((c) => {
        const li = document.createElement("li");
        const name = document.createElement("span");
        name.textContent = `${c.name} · ${t("waiting", c.waiting)}${c.paused ? ` · ${t("pausedTag")}` : ""}`;
        const a = document.createElement("a");
        a.href = `/waiting-room/${c.concertId}`;
        a.textContent = t("enter");
        a.dataset.concertId = c.concertId;
        li.append(name, a);
        return li;
      }));
      document.getElementById("empty").classList.toggle("hidden", concerts.length > 0);
      document.getElementById("error").classList.add("hidden");
    } catch (e) {
      const err = document.getElementById("error");
      err.textContent = `${t("error")}: ${e.message}`;
      err.classList.remove("hidden");
    }
  }
  load();
  setInterval(load, 10000);
})();
