"""The approval page: one HTML document with its style inline and its script at a same-origin path.

The page holds no data when served: its script asks for a token (kept in sessionStorage only),
reads the gate from the API with it, and writes every value with ``textContent``.
"""

from __future__ import annotations

import base64
import hashlib

SCRIPT_PATH = "/static/approval.js"

STYLE = """
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #c62828; --muted: #6b7280; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; padding: 2rem 1rem; }
main { max-width: 44rem; margin: 0 auto; }
h1 { font-size: 1.5rem; margin: 0 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.25rem 0 0.25rem; }
[hidden] { display: none !important; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.35rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
ul { margin: 0; padding-left: 1.25rem; }
li.muted, .muted { color: var(--muted); }
code, #changes { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.92rem; }
input, textarea { width: 100%; font: inherit; padding: 0.5rem; border: 1px solid var(--line); border-radius: 6px; }
textarea { min-height: 6rem; resize: vertical; }
button { font: inherit; padding: 0.5rem 1.1rem; border-radius: 6px; border: 1px solid var(--line); cursor: pointer; }
button:disabled { opacity: 0.5; cursor: not-allowed; }
button.approve { background: var(--ok); border-color: var(--ok); color: #fff; }
button.reject { background: var(--bad); border-color: var(--bad); color: #fff; }
.row { display: flex; gap: 0.75rem; flex-wrap: wrap; margin-top: 1rem; }
[data-kind="error"] { color: var(--bad); }
[data-kind="ok"] { color: var(--ok); }
[data-status="approved"] { color: var(--ok); font-weight: 600; }
[data-status="rejected"], [data-status="expired"] { color: var(--bad); font-weight: 600; }
#security li[data-status="failed"] { color: var(--bad); }
#security li[data-status="warning"] { color: #9a6700; }
form label { display: block; margin: 0.75rem 0 0.25rem; }
.signout { margin-top: 2rem; background: none; border: none; color: var(--muted); padding: 0; }
.signout { text-decoration: underline; }
"""

STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

HTML = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>arxdeploy: approval</title>
<style>{STYLE}</style>
<script src="{SCRIPT_PATH}" defer></script>
</head>
<body>
<main>
<h1>Deployment approval</h1>
<p id="message" role="status" aria-live="polite"></p>
<section id="signin" hidden>
  <p>Sign in with your arxdeploy API token
  (an admin makes one: <code>arxdeploy token create --for you@example.com</code>).
  It is kept in this browser tab only and forgotten when the tab closes.</p>
  <form id="signin-form" autocomplete="off">
    <label for="token">API token</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
    <div class="row"><button type="submit" id="signin-button">Sign in</button></div>
  </form>
</section>
<section id="gate" hidden>
  <dl>
    <dt>Service</dt><dd id="service"></dd>
    <dt>Environment</dt><dd id="environment"></dd>
    <dt>Version</dt><dd id="version"></dd>
    <dt>Requested by</dt><dd id="requested-by"></dd>
    <dt>Why</dt><dd id="reason"></dd>
    <dt>Status</dt><dd id="status"></dd>
    <dt>Time left</dt><dd id="time-left"></dd>
    <dt>Approvals</dt><dd id="tally"></dd>
    <dt>Approvers</dt><dd id="approvers"></dd>
  </dl>
  <h2>What changes</h2>
  <ul id="changes"></ul>
  <h2>Security gates</h2>
  <ul id="security"></ul>
  <h2>Approved so far</h2>
  <ul id="approved-by"></ul>
  <p id="rejection" data-kind="error" hidden></p>
  <div id="actions" class="row">
    <button type="button" id="approve" class="approve">Approve</button>
    <button type="button" id="reject-open">Reject…</button>
  </div>
  <form id="reject-form" hidden>
    <label for="reject-reason">Why reject it? (required, shown to the person who asked)</label>
    <textarea id="reject-reason" name="reason" maxlength="2000" required></textarea>
    <div class="row">
      <button type="submit" id="reject" class="reject">Reject</button>
      <button type="button" id="reject-cancel">Cancel</button>
    </div>
  </form>
  <p id="result" role="status" aria-live="polite"></p>
  <button type="button" id="signout" class="signout">Sign out</button>
</section>
</main>
</body>
</html>
"""

SCRIPT = r"""
"use strict";
(function () {
  const KEY = "arxdeploy.token";
  const parts = location.pathname.split("/").filter(Boolean);
  let deploymentId = "";
  try { deploymentId = decodeURIComponent(parts[parts.length - 1] || ""); } catch (e) { deploymentId = ""; }
  const $ = (id) => document.getElementById(id);
  let deadline = 0;
  let timer = null;

  const token = () => sessionStorage.getItem(KEY);
  const show = (id, on) => { $(id).hidden = !on; };
  function say(id, text, kind) {
    const el = $(id);
    el.textContent = text || "";
    el.dataset.kind = kind || "";
  }

  async function api(method, path, body) {
    const headers = { "Authorization": "Bearer " + token(), "Accept": "application/json" };
    const init = {
      method: method, headers: headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer",
    };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { ok: response.ok, status: response.status, data: data };
  }

  function errorText(r) {
    const e = r.data && r.data.error;
    if (!e || typeof e.message !== "string") return "The server answered " + r.status + ".";
    return e.hint ? e.message + " (" + e.hint + ")" : e.message;
  }

  function signedOut(message) {
    sessionStorage.removeItem(KEY);
    stopTimer();
    show("gate", false);
    show("signin", true);
    say("message", message || "", message ? "error" : "");
    $("token").value = "";
    $("token").focus();
  }

  function fillList(id, items, empty) {
    const list = $(id);
    list.replaceChildren();
    if (!items.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = empty;
      list.appendChild(li);
      return;
    }
    for (const item of items) {
      const li = document.createElement("li");
      li.textContent = item;
      list.appendChild(li);
    }
  }

  // One line per security gate, its findings that block under it; the status drives the colour.
  function fillSecurity(results) {
    const list = $("security");
    list.replaceChildren();
    if (!results.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "none ran";
      list.appendChild(li);
      return;
    }
    for (const r of results) {
      const li = document.createElement("li");
      li.dataset.status = r.status;
      li.textContent = r.gate + " " + r.status.replace(/_/g, " ") + ": " + r.summary;
      const blocking = (r.findings || []).filter((f) => !f.allowed).slice(0, 10);
      if (r.status !== "passed" && blocking.length) {
        const sub = document.createElement("ul");
        for (const f of blocking) {
          const item = document.createElement("li");
          item.textContent = f.rule + " (" + f.severity + "): " + f.message;
          sub.appendChild(item);
        }
        li.appendChild(sub);
      }
      list.appendChild(li);
    }
  }

  function stopTimer() {
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  function tick() {
    const left = Math.max(0, Math.round((deadline - performance.now()) / 1000));
    const m = Math.floor(left / 60);
    const s = left % 60;
    $("time-left").textContent = left > 0 ? m + "m " + String(s).padStart(2, "0") + "s" : "none: the request expired";
    if (left <= 0) {
      stopTimer();
      $("approve").disabled = true;
      $("reject-open").disabled = true;
    }
  }

  function tallyText(gate) {
    const need = gate.request ? gate.request.min_approvals : 0;
    return gate.approved_by.length + " of " + need + " needed";
  }

  function render(gate) {
    const request = gate.request;
    $("service").textContent = gate.service;
    $("environment").textContent = gate.environment;
    $("version").textContent = (gate.previous_version || "nothing live") + " \u2192 " + gate.version;
    $("requested-by").textContent = gate.requested_by || "unknown";
    $("reason").textContent = gate.reason || "no reason given";
    $("status").textContent = gate.status.replace(/_/g, " ");
    $("status").dataset.status = gate.status;
    $("tally").textContent = tallyText(gate);
    $("approvers").textContent = request ? request.approvers.join(", ") : "none";
    fillList("changes", request ? request.changes : [], "nothing listed");
    fillSecurity(gate.security || []);
    const approved = gate.approvals.map((a) => a.who + " (" + a.at + ")" + (a.reason ? ": " + a.reason : ""));
    fillList("approved-by", approved, "nobody yet");
    if (gate.rejection) {
      const why = gate.rejection.reason || "no reason given";
      say("rejection", "Rejected by " + gate.rejection.who + ": " + why, "error");
    }
    show("rejection", Boolean(gate.rejection));
    const pending = gate.status === "pending";
    show("actions", pending);
    if (!pending) show("reject-form", false);
    $("approve").disabled = !pending;
    $("reject-open").disabled = !pending;
    stopTimer();
    if (pending) {
      deadline = performance.now() + gate.seconds_left * 1000;
      tick();
      timer = setInterval(tick, 1000);
    } else {
      $("time-left").textContent = "not waiting (" + gate.status.replace(/_/g, " ") + ")";
    }
    show("signin", false);
    show("gate", true);
  }

  async function load() {
    if (!token()) {
      signedOut("");
      return;
    }
    say("message", "Loading\u2026");
    let r;
    try {
      r = await api("GET", "/api/v1/approvals/" + encodeURIComponent(deploymentId));
    } catch (e) {
      say("message", "Could not reach the server.", "error");
      return;
    }
    if (r.status === 401) {
      signedOut(errorText(r));
      return;
    }
    if (!r.ok) {
      show("signin", false);
      show("gate", false);
      say("message", errorText(r), "error");
      return;
    }
    say("message", "");
    render(r.data);
  }

  function busy(on) {
    for (const id of ["approve", "reject-open", "reject", "reject-cancel"]) $(id).disabled = on;
  }

  async function decide(verdict, body) {
    busy(true);
    say("result", "Sending\u2026");
    try {
      const r = await api("POST", "/api/v1/approvals/" + encodeURIComponent(deploymentId) + "/" + verdict, body);
      if (r.status === 401) {
        signedOut(errorText(r));
        return;
      }
      if (!r.ok) {
        say("result", errorText(r), "error");
        return;
      }
      render(r.data);
      if (verdict === "approve") {
        const done = r.data.status === "approved" ? "the deployment is approved" : "waiting for more approvals";
        say("result", "Your approval is recorded: " + done + " (" + tallyText(r.data) + ").", "ok");
      } else {
        say("result", "Your rejection is recorded: the deployment will not go ahead.", "ok");
      }
    } catch (e) {
      say("result", "Could not reach the server.", "error");
    } finally {
      busy(false);
      if ($("status").dataset.status !== "pending") {
        $("approve").disabled = true;
        $("reject-open").disabled = true;
      }
    }
  }

  function start() {
    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      if (!value) return;
      sessionStorage.setItem(KEY, value);
      $("token").value = "";
      load();
    });
    $("approve").addEventListener("click", () => decide("approve", {}));
    $("reject-open").addEventListener("click", () => {
      show("reject-form", true);
      $("reject-reason").focus();
    });
    $("reject-cancel").addEventListener("click", () => show("reject-form", false));
    $("reject-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const reason = $("reject-reason").value.trim();
      if (!reason) {
        say("result", "A reason is required to reject.", "error");
        return;
      }
      decide("reject", { reason: reason });
    });
    $("signout").addEventListener("click", () => signedOut(""));
    load();
  }

  start();
})();
"""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        f"style-src '{STYLE_HASH}'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}
