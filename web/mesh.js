// The mesh page: polls /mesh/state (the dashboard server reads every
// node's /dashboard/state) and draws nodes, connections coloured by tier,
// and where nodes disagree. Read-only; text only (never HTML from data).
"use strict";

const TIER_RANK = { affirming: 0, none: 1, warning: 2, contraindicated: 3 };

function shortName(id) {
  if (!id) return "?";
  const m = /^spiffe:\/\/[^/]+\/(.*)$/.exec(id);
  const path = m ? m[1] : id;
  const parts = path.split("/");
  return parts.length > 2 ? parts.slice(-2).join("/") : path;
}

function epochsKey(e) {
  return JSON.stringify(Object.keys(e || {}).sort().map((k) => [k, e[k]]));
}

// What the page derives from the nodes' states.
function analyse(mesh) {
  const nodes = new Map(); // id -> {id, url, ok, error, state, external}
  for (const n of mesh.nodes) {
    const id = (n.state && n.state.self && n.state.self.id) || n.url;
    nodes.set(id, { id, url: n.url, ok: n.ok, error: n.error, state: n.state, external: false,
      lastOkAgo: n.last_ok_ago_s, flags: new Set() });
  }
  const views = []; // one per (holder, connection or recent entry)
  for (const n of nodes.values()) {
    if (!n.state) continue;
    for (const p of n.state.open || []) {
      if (!p.peer || p.state !== "proxy") continue;
      views.push({ holder: n.id, peer: p.peer, kind: "open", dir: p.direction, tier: p.tier || "none",
        mode: p.mode, epochs: p.rv_epochs || {}, result: "open", ago: (p.age_ms || 0) / 1000 });
    }
    for (const p of n.state.recent || []) {
      views.push({ holder: n.id, peer: p.peer, kind: "recent", dir: p.direction, tier: p.tier || "none",
        mode: p.mode, epochs: p.rv_epochs || {}, result: p.result, reason: p.reason, judged: p.judged,
        ago: p.ended_ago_s });
    }
  }
  for (const v of views) {
    if (!nodes.has(v.peer)) {
      nodes.set(v.peer, { id: v.peer, external: true, ok: true, flags: new Set() });
    }
  }
  // Edges: one per pair of endpoints, every view of it.
  const edges = new Map();
  for (const v of views) {
    const key = [v.holder, v.peer].sort().join("\u0000");
    if (!edges.has(key)) edges.set(key, { a: [v.holder, v.peer].sort()[0], b: [v.holder, v.peer].sort()[1], views: [], flags: new Set(), notes: [] });
    edges.get(key).views.push(v);
  }
  const issues = [];
  // 1. A node on a stale snapshot: behind the newest epoch another node has
  //    installed for the same RVP, or its sync says the manifest expired.
  const newest = {};
  for (const n of nodes.values()) {
    if (!n.state) continue;
    for (const [r, e] of Object.entries(n.state.rv.epochs || {})) newest[r] = Math.max(newest[r] || 0, e);
  }
  for (const n of nodes.values()) {
    if (!n.state) continue;
    for (const [r, e] of Object.entries(n.state.rv.epochs || {})) {
      if (e < newest[r]) {
        n.flags.add("stale");
        issues.push({ kind: "stale-snapshot", node: n.id, text: shortName(n.id) + " is on epoch " + e + " of " + r + "; another node has epoch " + newest[r] });
      }
    }
    for (const s of (n.state.sync && n.state.sync.rvps) || []) {
      if (s.stale) {
        n.flags.add("stale");
        issues.push({ kind: "stale-snapshot", node: n.id, text: shortName(n.id) + ": the manifest of " + (s.name || s.url) + " has expired (stale)" });
      }
    }
    if (!n.ok) issues.push({ kind: "unreachable", node: n.id, text: shortName(n.id) + " (" + n.url + "): " + n.error });
  }
  // 2. Two nodes holding the same peer under different RV epochs.
  const byPeer = new Map();
  for (const v of views) {
    if (v.kind !== "open") continue;
    if (!byPeer.has(v.peer)) byPeer.set(v.peer, new Map());
    byPeer.get(v.peer).set(v.holder, v);
  }
  for (const [peer, holders] of byPeer) {
    const keys = new Set([...holders.values()].map((v) => epochsKey(v.epochs)));
    if (holders.size > 1 && keys.size > 1) {
      nodes.get(peer).flags.add("disagree");
      for (const v of holders.values()) edges.get([v.holder, v.peer].sort().join("\u0000")).flags.add("disagree");
      issues.push({ kind: "epoch-disagreement", node: peer, text: "nodes hold " + shortName(peer) + " under different epochs: " +
        [...holders.values()].map((v) => shortName(v.holder) + " " + vm.epochs(v.epochs)).join("; ") });
    }
  }
  // 3. A connection admitted under an epoch that revoked its peer elsewhere:
  //    some node closed the peer by re-appraisal under epochs J; another
  //    still holds it open, admitted under an older epoch of the same RVP.
  for (const r of views.filter((v) => v.kind === "recent" && v.result === "reappraisal" && v.judged)) {
    for (const v of views) {
      if (v.kind !== "open" || v.peer !== r.peer) continue;
      const older = Object.entries(r.judged).filter(([rvp, e]) => v.epochs[rvp] !== undefined && v.epochs[rvp] < e);
      if (older.length === 0) continue;
      const e = edges.get([v.holder, v.peer].sort().join("\u0000"));
      e.flags.add("disagree");
      e.flags.add("revoked-epoch");
      issues.push({ kind: "revoked-epoch", node: v.holder, text: shortName(v.holder) + " still holds " + shortName(v.peer) +
        " admitted under " + vm.epochs(v.epochs) + "; " + shortName(r.holder) + " revoked it under " + vm.epochs(r.judged) });
    }
  }
  // Each edge's state: open when either end holds it open; else the worst
  // of how each end's latest connection ended (an end that revoked the
  // peer outweighs the other end seeing its side simply close).
  const ENDED_RANK = { closed: 0, refused: 1, revoked: 2 };
  const endedState = (v) => v.result === "reappraisal" ? "revoked" :
    ["refused", "peer-refused", "tls-failed", "timeout"].includes(v.result) ? "refused" : "closed";
  for (const e of edges.values()) {
    const open = e.views.filter((v) => v.kind === "open");
    if (open.length) {
      e.state = "open";
      e.tier = open.map((v) => v.tier).sort((x, y) => (TIER_RANK[y] || 0) - (TIER_RANK[x] || 0))[0];
      continue;
    }
    const latest = new Map();
    for (const v of e.views) {
      if (!latest.has(v.holder) || v.ago < latest.get(v.holder).ago) latest.set(v.holder, v);
    }
    const worst = [...latest.values()].sort((x, y) => ENDED_RANK[endedState(y)] - ENDED_RANK[endedState(x)])[0];
    e.state = endedState(worst);
    e.tier = e.state === "closed" ? worst.tier : "contraindicated";
  }
  return { nodes, edges, views, issues };
}

function layout(nodes) {
  const inner = [...nodes.values()].filter((n) => !n.external).sort((a, b) => a.id.localeCompare(b.id));
  const outer = [...nodes.values()].filter((n) => n.external).sort((a, b) => a.id.localeCompare(b.id));
  const cx = 500, cy = 260;
  const place = (list, r, phase) => list.forEach((n, i) => {
    const a = phase + (2 * Math.PI * i) / Math.max(1, list.length);
    n.x = cx + r * Math.cos(a) * 1.6;
    n.y = cy + r * Math.sin(a);
  });
  place(inner, inner.length > 1 ? 170 : 0, -Math.PI / 2);
  place(outer, 235, -Math.PI / 2 + 0.3);
}

function drawGraph(g) {
  const svg = document.getElementById("mesh-svg");
  layout(g.nodes);
  const out = [];
  for (const e of g.edges.values()) {
    const a = g.nodes.get(e.a), b = g.nodes.get(e.b);
    const cls = ["edge", vm.tierClass(e.tier), e.state === "open" ? "" : e.state, ...e.flags].join(" ").trim();
    const title = e.views.map((v) => shortName(v.holder) + " → " + shortName(v.peer) + ": " + v.result + ", " + v.tier +
      ", " + (v.mode || "–") + ", admitted under " + vm.epochs(v.epochs)).join("\n");
    out.push(vm.svg("line", { class: cls, x1: a.x, y1: a.y, x2: b.x, y2: b.y, "data-a": e.a, "data-b": e.b,
      "data-state": e.state, "data-tier": e.tier, "data-flags": [...e.flags].join(" ") }, vm.svg("title", {}, title)));
    if (e.state !== "open") {
      out.push(vm.svg("text", { class: "edge-label", x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, "text-anchor": "middle" }, e.state));
    }
  }
  for (const n of g.nodes.values()) {
    const cls = ["node", n.external ? "external" : "", n.ok ? "" : "down", ...n.flags].join(" ").replace(/\s+/g, " ").trim();
    const epochs = n.state && Object.keys(n.state.rv.epochs || {}).length ? vm.epochs(n.state.rv.epochs) : "";
    out.push(vm.svg("g", { class: cls, "data-id": n.id, transform: "translate(" + n.x + "," + n.y + ")" },
      vm.svg("title", {}, n.id + (n.url ? "\n" + n.url : "") + (epochs ? "\nRV " + epochs : "") + (n.error ? "\n" + n.error : "")),
      vm.svg("circle", { r: n.external ? 14 : 22 }),
      vm.svg("text", { y: n.external ? 28 : 36, "text-anchor": "middle" }, shortName(n.id)),
      epochs ? vm.svg("text", { y: 4, "text-anchor": "middle" }, epochs) : null));
  }
  vm.replace(svg, ...out);
}

function drawTables(g) {
  const rows = [];
  for (const n of [...g.nodes.values()].filter((x) => !x.external).sort((a, b) => a.id.localeCompare(b.id))) {
    const st = n.state;
    const sync = !st ? "–" : !st.sync ? "files" : st.sync.rvps.some((r) => r.stale) ? "stale" : st.sync.rvps.some((r) => r.last_error) ? "failing" : "ok";
    const bell = !st ? "–" : !st.bell ? "none" : st.bell.current && st.bell.current.fresh ? "fresh" : "expired";
    rows.push(vm.el("tr", { "data-id": n.id, "data-ok": n.ok },
      vm.el("td", { class: "mono" }, n.id), vm.el("td", { class: "mono" }, n.url),
      vm.el("td", {}, n.ok ? vm.badge(st && st.ready ? "ready" : "not ready", st && st.ready ? "ok" : "warning") : vm.badge("unreachable", "bad", n.error)),
      vm.el("td", {}, st ? vm.epochs(st.rv.epochs) : "–", n.flags.has("stale") ? vm.badge("stale", "disagree") : null),
      vm.el("td", {}, sync), vm.el("td", {}, bell),
      vm.el("td", {}, st ? (st.open || []).filter((p) => p.state === "proxy").length : "–")));
  }
  vm.replace(document.querySelector("#nodes tbody"), ...rows);
  const items = g.issues.map((i) => vm.el("li", { "data-kind": i.kind }, vm.badge(i.kind, "disagree"), " ", i.text));
  if (items.length === 0) items.push(vm.el("li", { class: "empty" }, "none: every node judges its peers under the same epochs"));
  vm.replace(document.getElementById("disagreements"), ...items);
  const er = g.views.slice().sort((a, b) => a.holder.localeCompare(b.holder) || a.peer.localeCompare(b.peer)).map((v) =>
    vm.el("tr", { "data-holder": v.holder, "data-peer": v.peer, "data-result": v.result },
      vm.el("td", { class: "mono" }, shortName(v.holder)), vm.el("td", { class: "mono" }, shortName(v.peer)),
      vm.el("td", {}, v.dir), vm.el("td", {}, vm.badge(v.result, v.result === "open" ? "ok" : vm.resultClass(v.result), v.reason)),
      vm.el("td", {}, vm.badge(v.tier, vm.tierClass(v.tier))), vm.el("td", {}, v.mode || "–"),
      vm.el("td", { class: "mono" }, vm.epochs(v.epochs)), vm.el("td", {}, vm.age(v.ago))));
  vm.replace(document.querySelector("#edges tbody"), ...er);
}

let pollMs = 1000;
function draw(mesh) {
  const g = analyse(mesh);
  document.body.dataset.draws = String(Number(document.body.dataset.draws || 0) + 1);
  drawGraph(g);
  drawTables(g);
  const up = mesh.nodes.filter((n) => n.ok).length;
  document.getElementById("summary").textContent = up + " of " + mesh.nodes.length + " nodes answer, " +
    [...g.edges.values()].filter((e) => e.state === "open").length + " open connections, " + g.issues.length + " disagreements";
  pollMs = mesh.poll_ms || pollMs;
  vm.status(true, "updated " + new Date(mesh.now * 1000).toISOString().slice(11, 19) + " UTC, every " + pollMs / 1000 + " s");
}

document.addEventListener("DOMContentLoaded", () => {
  vm.poll(["/mesh/state"], pollMs, draw, (e) => vm.status(false, "no answer: " + e));
});
