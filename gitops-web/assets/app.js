// The gitops UI: live updates from /api/v1/stream, filters, the resource tree, actions.
// No inline script (the Content-Security-Policy forbids it), no third-party code.
"use strict";

function token() {
  const input = document.getElementById("token");
  if (input && input.value) sessionStorage.setItem("gitops-token", input.value);
  return sessionStorage.getItem("gitops-token") || "";
}

function setStatus(el, value) {
  if (!el) return;
  const badge = el.querySelector(".badge");
  const text = el.querySelector(".text");
  if (badge) { badge.className = "badge " + value; badge.setAttribute("aria-label", badge.getAttribute("aria-label").replace(/ \S+$/, " " + value)); }
  if (text) text.textContent = value;
}

function applyFilters() {
  const table = document.getElementById("apps");
  if (!table) return;
  const val = (id) => (document.getElementById(id) || {}).value || "";
  const name = val("filter-name").toLowerCase(), project = val("filter-project"), ns = val("filter-namespace"), status = val("filter-status");
  for (const row of table.tBodies[0].rows) {
    const d = row.dataset;
    const ok = (!name || d.name.toLowerCase().includes(name)) && (!project || d.project === project) &&
      (!ns || d.namespace === ns) && (!status || d.sync === status || d.health === status);
    row.hidden = !ok;
  }
}

function updateList(apps) {
  const table = document.getElementById("apps");
  if (!table) return;
  const rows = new Map([...table.tBodies[0].rows].map((r) => [r.dataset.name, r]));
  let known = true;
  for (const a of apps) {
    const row = rows.get(a.name);
    if (!row) { known = false; continue; }
    row.dataset.sync = a.sync; row.dataset.health = a.health;
    setStatus(row.querySelector(".sync"), a.sync);
    setStatus(row.querySelector(".health"), a.health);
    row.querySelector(".revision code").textContent = (a.revision || "-").slice(0, 12);
    row.querySelector(".revision .commit-message").textContent = a.revision_message || "";
    row.querySelector(".last-sync").textContent = a.last_sync || "-";
    row.querySelector(".message").textContent = a.message || "";
  }
  if (!known || apps.length !== rows.size) { location.reload(); return; }
  const counts = document.getElementById("counts");
  if (counts) {
    const n = (f) => apps.filter(f).length;
    const spans = counts.querySelectorAll(".count");
    const values = [apps.length, n((a) => a.sync === "Synced"), n((a) => a.sync === "OutOfSync"), n((a) => a.health === "Healthy"),
      n((a) => a.health === "Progressing"), n((a) => a.health === "Degraded" || a.health === "Missing")];
    spans.forEach((s, i) => { s.textContent = s.textContent.replace(/^\d+/, String(values[i])); });
  }
  applyFilters();
}

async function updateApp(name) {
  const r = await fetch("/api/v1/applications/" + encodeURIComponent(name));
  if (!r.ok) return;
  const app = await r.json();
  setStatus(document.querySelector(".summary .sync"), app.sync);
  setStatus(document.querySelector(".summary .health"), app.health);
  document.getElementById("app-revision").textContent = (app.revision || "-").slice(0, 12);
  document.getElementById("app-revision-message").textContent = app.revision_message || "";
  const flat = [];
  const walk = (nodes) => { for (const n of nodes) { flat.push(n); walk(n.children || []); } };
  walk(app.tree);
  const items = [...document.querySelectorAll("#tree > li")];
  if (items.length !== flat.length) { location.reload(); return; }
  items.forEach((li, i) => {
    const n = flat[i];
    const head = li.querySelector(".node-head");
    const badges = head.querySelectorAll(".badge");
    const texts = head.querySelectorAll(".text");
    const values = [n.sync, n.health].filter((v) => v);
    values.forEach((v, j) => { if (badges[j]) badges[j].className = "badge " + v; if (texts[j]) texts[j].textContent = v; });
    let drift = head.querySelector(".drift");
    if (n.drift && n.drift.length) {
      if (!drift) { drift = document.createElement("span"); drift.className = "drift"; head.appendChild(drift); }
      drift.textContent = "drift: " + n.drift.join(", ");
    } else if (drift) drift.remove();
    const body = li.querySelector(".node-body");
    body.replaceChildren();
    if (n.action) { const r = document.createElement("p"); r.className = "result"; r.textContent = "last sync: " + n.action + (n.message ? ": " + n.message : ""); body.appendChild(r); }
    if (n.changed_by && n.changed_by.length) { const w = document.createElement("p"); w.className = "changed-by"; w.textContent = "drift made by: " + n.changed_by.join("; "); body.appendChild(w); }
    if (n.diff) { const pre = document.createElement("pre"); pre.className = "diff"; pre.textContent = n.diff; body.appendChild(pre); }
    else { const p = document.createElement("p"); p.textContent = n.from_git ? "equal to Git" : "made by a controller"; body.appendChild(p); }
    if (n.live) {
      const d = document.createElement("details"); d.className = "live";
      const s = document.createElement("summary"); s.textContent = "live manifest";
      const pre = document.createElement("pre"); pre.className = "manifest"; pre.textContent = n.live;
      d.append(s, pre); body.appendChild(d);
    }
  });
  showDiffs();
}

// A unified diff as two columns: live on the left, Git on the right, context on both.
function splitDiff(text) {
  const table = document.createElement("table");
  table.className = "split";
  const rows = [];
  let minus = [], plus = [];
  const flush = () => {
    const n = Math.max(minus.length, plus.length);
    for (let i = 0; i < n; i++) rows.push([minus[i] ?? null, plus[i] ?? null, "change"]);
    minus = []; plus = [];
  };
  for (const line of text.split("\n")) {
    if (line.startsWith("---") || line.startsWith("+++")) continue;
    if (line.startsWith("-")) minus.push(line.slice(1));
    else if (line.startsWith("+")) plus.push(line.slice(1));
    else { flush(); rows.push([line.startsWith("@@") ? line : line.slice(1), line.startsWith("@@") ? line : line.slice(1), line.startsWith("@@") ? "hunk" : "same"]); }
  }
  flush();
  for (const [l, r, kind] of rows) {
    const tr = table.insertRow();
    tr.className = kind;
    for (const side of [l, r]) { const td = tr.insertCell(); td.textContent = side ?? ""; if (side === null) td.className = "empty"; }
  }
  return table;
}

function showDiffs() {
  const split = document.getElementById("opt-split");
  for (const pre of document.querySelectorAll("pre.diff")) {
    const next = pre.nextElementSibling;
    if (next && next.classList.contains("split")) next.remove();
    pre.hidden = !!(split && split.checked);
    if (split && split.checked) pre.after(splitDiff(pre.textContent));
  }
}

async function act(name, action, extra) {
  const out = document.getElementById("action-result");
  const selected = [...document.querySelectorAll("#tree li input.select:checked")].map((c) => c.closest("li").dataset.resource);
  if (action === "sync-selected" && selected.length === 0) { out.textContent = "select resources in the tree first"; return; }
  const path = action === "hard-refresh" ? "refresh?hard=true" : action === "sync-selected" ? "sync" : action;
  const sync = { prune: document.getElementById("opt-prune").checked, dryRun: document.getElementById("opt-dry-run").checked };
  const body = action === "sync" ? sync : action === "sync-selected" ? { ...sync, resources: selected }
    : action === "rollback" ? { id: Number(extra) } : {};
  out.textContent = action + "…";
  const r = await fetch("/api/v1/applications/" + encodeURIComponent(name) + "/" + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token() },
    body: JSON.stringify(body),
  });
  out.textContent = (await r.text()).trim();
  out.dataset.status = String(r.status);
}

function start() {
  for (const id of ["filter-name", "filter-project", "filter-namespace", "filter-status"]) {
    const el = document.getElementById(id);
    if (el) el.addEventListener("input", applyFilters);
  }
  applyFilters();
  for (const head of document.querySelectorAll(".node-head")) {
    head.addEventListener("click", () => {
      const body = head.parentElement.querySelector(".node-body");
      body.hidden = !body.hidden;
      head.setAttribute("aria-expanded", String(!body.hidden));
    });
  }
  const split = document.getElementById("opt-split");
  if (split) split.addEventListener("change", showDiffs);
  const title = document.querySelector("h1[data-app]");
  for (const b of document.querySelectorAll("button[data-action]")) {
    b.addEventListener("click", () => act(title.dataset.app, b.dataset.action, b.dataset.id));
  }
  const live = document.getElementById("live");
  const stream = new EventSource("/api/v1/stream");
  stream.addEventListener("open", () => { live.textContent = "live"; });
  stream.addEventListener("error", () => { live.textContent = "reconnecting…"; });
  stream.addEventListener("applications", (e) => {
    const apps = JSON.parse(e.data);
    live.textContent = "live · updated " + new Date().toLocaleTimeString();
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    if (title) updateApp(title.dataset.app); else updateList(apps);
  });
}

document.addEventListener("DOMContentLoaded", start);
