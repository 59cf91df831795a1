// Shared by the node page and the mesh page: DOM helpers (text only, never
// HTML from data), formatting, tiers and AR4SI claim classes, and a poller
// that fetches JSON from this page's own origin.
"use strict";

const vm = {};

// el("td", {class: "mono"}, "text", child...): strings become text nodes.
vm.el = function (tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
};

vm.svg = function (tag, attrs, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
};

vm.replace = function (parent, ...children) {
  parent.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
};

vm.age = function (seconds) {
  if (seconds === undefined || seconds === null || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
};

const TIERS = ["affirming", "warning", "contraindicated", "none"];
vm.tierClass = function (t) {
  return TIERS.includes(t) ? t : "none";
};

vm.badge = function (text, cls, title) {
  return vm.el("span", { class: "badge " + (cls || "none"), title: title }, text);
};

// AR4SI §2.3.3 value ranges: 2..31 affirming, 32..95 warning,
// 96..127 contraindicated; 0 no claim; 1 and the negatives: none/malfunction.
vm.claimClass = function (v) {
  if (v >= 2 && v <= 31) return "affirming";
  if (v >= 32 && v <= 95) return "warning";
  if (v >= 96 && v <= 127) return "contraindicated";
  return "none";
};

vm.claims = function (tv) {
  const box = vm.el("div", { class: "claims" });
  const names = Object.keys(tv || {});
  if (names.length === 0) box.append(vm.el("span", { class: "empty" }, "none"));
  for (const n of names) {
    box.append(vm.badge(n + " " + tv[n], vm.claimClass(tv[n]), "AR4SI " + n + " = " + tv[n]));
  }
  return box;
};

vm.epochs = function (e) {
  const names = Object.keys(e || {});
  if (names.length === 0) return "–";
  return names.map((n) => n + "@" + e[n]).join(", ");
};

vm.resultClass = function (r) {
  if (r === "ok" || r === "idle-timeout" || r === "drain") return "ok";
  if (r === "reappraisal") return "bad";
  return "warning";
};

// Polls url every ms (the page's own origin only: the CSP says so too),
// calls onData(json) or onError(message).
vm.poll = function (urls, ms, onData, onError) {
  let stopped = false;
  async function once() {
    try {
      const out = [];
      for (const u of urls) {
        const ctl = new AbortController();
        const t = setTimeout(() => ctl.abort(), Math.max(ms * 2, 3000));
        const r = await fetch(u, { cache: "no-store", signal: ctl.signal });
        clearTimeout(t);
        if (!r.ok) throw new Error(u + ": HTTP " + r.status);
        const ct = r.headers.get("content-type") || "";
        out.push(ct.startsWith("application/json") ? await r.json() : await r.text());
      }
      onData(...out);
    } catch (e) {
      onError(String(e && e.message ? e.message : e));
    }
    if (!stopped) setTimeout(once, ms);
  }
  once();
  return () => { stopped = true; };
};

vm.status = function (ok, text) {
  const s = document.getElementById("status");
  s.className = "status" + (ok ? "" : " error");
  s.textContent = text;
};
