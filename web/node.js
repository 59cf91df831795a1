// The node page: polls this node's /dashboard/state and /peers and draws
// them. Read-only; text only (never HTML from the data).
"use strict";

const KNOWN = new Set(["direction", "listener", "state", "peer", "mode", "tier", "tv", "rv_epochs",
  "resumed", "bytes_from_peer", "bytes_to_peer", "age_ms", "worker", "remote", "remote_addr", "claims",
  "attested_at", "reattested"]);

function more(p) {
  // Fields this page does not know yet (added by a newer proxy) as key: value.
  const parts = [];
  for (const [k, v] of Object.entries(p)) {
    if (KNOWN.has(k)) continue;
    parts.push(k + ": " + (typeof v === "object" ? JSON.stringify(v) : String(v)));
  }
  parts.push("bytes " + (p.bytes_from_peer || 0) + "↓ " + (p.bytes_to_peer || 0) + "↑");
  return vm.el("span", { class: "mono" }, parts.join("; "));
}

function judged(p) {
  let s = vm.epochs(p.rv_epochs);
  if (p.policy_digest) s += "; policy " + String(p.policy_digest).slice(0, 12);
  return s;
}

// When the peer's attestation was last accepted (handshake or in-band
// re-attestation), on the node's clock, and the rounds it passed.
function attested(p, now) {
  if (!p.attested_at) return "–";
  let s = vm.age(Math.max(0, now - p.attested_at)) + " ago";
  if (p.reattested) s += " (" + p.reattested + " re-attestation" + (p.reattested === 1 ? "" : "s") + ")";
  return s;
}

function drawOpen(peers, now) {
  const body = document.querySelector("#open-peers tbody");
  const rows = [];
  for (const p of peers) {
    const tier = p.tier || "none";
    rows.push(vm.el("tr", { "data-peer": p.peer || "", "data-tier": tier, "data-state": p.state || "" },
      vm.el("td", { class: "mono" }, p.peer || "(not yet known)"),
      vm.el("td", {}, p.direction), vm.el("td", {}, p.listener),
      vm.el("td", { class: "mono" }, p.remote || p.remote_addr || "–"),
      vm.el("td", {}, p.state || ""), vm.el("td", {}, p.mode || "–"),
      vm.el("td", {}, vm.badge(tier, vm.tierClass(tier))),
      vm.el("td", {}, vm.claims(p.tv)), vm.el("td", { class: "mono" }, judged(p)),
      vm.el("td", {}, vm.age((p.age_ms || 0) / 1000)),
      vm.el("td", { class: "attested" }, attested(p, now)), vm.el("td", {}, more(p))));
  }
  if (rows.length === 0) rows.push(vm.el("tr", {}, vm.el("td", { colspan: 12, class: "empty" }, "no open connections")));
  vm.replace(body, ...rows);
}

function drawRecent(st) {
  const body = document.querySelector("#recent-peers tbody");
  const rows = [];
  for (const p of st.recent || []) {
    const tier = p.tier || "none";
    rows.push(vm.el("tr", { "data-peer": p.peer, "data-tier": tier, "data-result": p.result },
      vm.el("td", { class: "mono" }, p.peer), vm.el("td", {}, p.direction), vm.el("td", {}, p.listener),
      vm.el("td", {}, p.mode || "–"), vm.el("td", {}, vm.badge(tier, vm.tierClass(tier))),
      vm.el("td", {}, vm.claims(p.tv)), vm.el("td", { class: "mono" }, vm.epochs(p.rv_epochs)),
      vm.el("td", {}, vm.badge(p.result, vm.resultClass(p.result))),
      vm.el("td", { class: "mono" }, p.reason + (p.judged ? " (under " + vm.epochs(p.judged) + ")" : "")),
      vm.el("td", {}, vm.age(p.ended_ago_s)), vm.el("td", {}, p.connections)));
  }
  if (rows.length === 0) rows.push(vm.el("tr", {}, vm.el("td", { colspan: 11, class: "empty" }, "no connection ended in this window")));
  vm.replace(body, ...rows);
}

function drawRefusals(st) {
  const counts = document.getElementById("refusal-counts");
  const ended = st.ended || {};
  const names = Object.keys(ended).filter((k) => !["ok", "idle-timeout", "drain", "reset"].includes(k));
  const max = Math.max(1, ...names.map((k) => ended[k]));
  const cells = [];
  for (const k of names) {
    const bar = vm.el("div", { class: "bar" });
    bar.style.width = Math.round((100 * ended[k]) / max) + "%";
    cells.push(vm.el("span", { "data-result": k }, k), bar, vm.el("span", {}, ended[k]));
  }
  if (cells.length === 0) cells.push(vm.el("span", { class: "empty" }, "no refusals"));
  vm.replace(counts, ...cells);
  const body = document.querySelector("#refusals tbody");
  const rows = (st.refusals || []).map((f) => vm.el("tr", { "data-result": f.result },
    vm.el("td", {}, vm.age(f.ago_s)), vm.el("td", {}, f.direction),
    vm.el("td", { class: "mono" }, f.peer || "(unknown)"), vm.el("td", { class: "mono" }, f.remote || "–"),
    vm.el("td", {}, vm.badge(f.code || f.result, "bad")), vm.el("td", { class: "mono" }, f.reason)));
  vm.replace(body, ...rows);
}

function kv(dl, pairs) {
  const items = [];
  for (const [k, v] of pairs) items.push(vm.el("dt", {}, k), vm.el("dd", {}, v));
  vm.replace(dl, ...items);
}

function drawTrust(st) {
  kv(document.getElementById("rv"), [
    ["epochs", vm.epochs(st.rv.epochs)],
    ["snapshot", st.rv.have_snapshot ? "installed " + vm.age(st.rv.snapshot_age_s) + " ago" : "none yet"],
    ["certificate", st.self.cert_expires_in_s >= 0 ? "expires in " + vm.age(st.self.cert_expires_in_s) : "–"],
    ["generation", String(st.self.generation)],
    ["active", st.active.inbound + " inbound, " + st.active.outbound + " outbound"],
  ]);
  const sync = document.getElementById("sync");
  if (!st.sync) {
    vm.replace(sync, vm.el("span", { class: "empty" }, "no bundle sync (reference values from files)"));
  } else {
    const t = vm.el("table", {}, vm.el("tr", {}, ...["RVP", "epoch", "health", "polls", "updates", "refused", "failed"].map((h) => vm.el("th", {}, h))));
    for (const r of st.sync.rvps) {
      const health = r.stale ? vm.badge("stale", "bad") : r.last_error ? vm.badge("failing", "warning", r.last_error) : vm.badge("ok", "ok");
      t.append(vm.el("tr", { "data-rvp": r.name },
        vm.el("td", { class: "mono", title: r.url }, r.name || r.url), vm.el("td", {}, r.epoch),
        vm.el("td", {}, health, r.last_error ? vm.el("div", { class: "mono" }, r.last_error) : null),
        vm.el("td", {}, r.polls), vm.el("td", {}, r.updates), vm.el("td", {}, r.refusals), vm.el("td", {}, r.failures)));
    }
    vm.replace(sync, t);
  }
  const bell = document.getElementById("bell");
  if (!st.bell) {
    vm.replace(bell, vm.el("span", { class: "empty" }, "no bell configured"));
  } else if (!st.bell.current) {
    vm.replace(bell, vm.badge("not rung yet", "warning"));
  } else {
    const c = st.bell.current;
    const dl = vm.el("dl", { class: "kv" });
    kv(dl, [["bell", c.name], ["tick", String(c.tick)], ["rung", vm.age(c.age_s) + " ago"],
      ["valid", c.fresh ? "for " + vm.age(c.valid_for_s) : "expired"], ["bells followed", String(st.bell.bells)]]);
    vm.replace(bell, c.fresh ? vm.badge("fresh", "ok") : vm.badge("expired", "bad"), dl);
  }
  const ls = document.getElementById("listeners");
  const t = vm.el("table", {});
  for (const l of st.self.listeners) {
    t.append(vm.el("tr", {}, vm.el("td", {}, l.direction), vm.el("td", {}, l.name),
      vm.el("td", { class: "mono" }, l.listen), vm.el("td", { class: "mono" }, (l.peer || "any attested peer") + (l.upstreams ? " → " + l.upstreams.join(", ") : ""))));
  }
  vm.replace(ls, t);
}

function draw(st, peers) {
  document.body.dataset.draws = String(Number(document.body.dataset.draws || 0) + 1);
  document.getElementById("self-id").textContent = st.self.id || "(identity unreadable)";
  vm.replace(document.getElementById("ready"), st.ready ? vm.badge("ready", "ok") : vm.badge(st.draining ? "draining" : "not ready", "bad"));
  document.getElementById("window").textContent = vm.age(st.window_s);
  document.getElementById("window2").textContent = vm.age(st.window_s);
  drawTrust(st);
  drawOpen(peers, st.now);
  drawRecent(st);
  drawRefusals(st);
  vm.status(true, "updated " + new Date(st.now * 1000).toISOString().slice(11, 19) + " UTC, every " + st.poll_ms / 1000 + " s");
}

document.addEventListener("DOMContentLoaded", () => {
  vm.poll(["/dashboard/state", "/peers"], 2000, draw, (e) => vm.status(false, "no answer: " + e));
});
