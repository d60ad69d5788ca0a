// citysoc console: progressive enhancement only. Every action is a plain form or link that works
// without this script; the script adds keyboard triage, bulk selection helpers, the matched-event
// preview panel and auto-refresh.
(function () {
  "use strict";
  var body = document.body;
  var texts = {};
  try { texts = JSON.parse(body.getAttribute("data-i18n") || "{}"); } catch (e) { texts = {}; }
  function t(key, values) {
    var s = texts[key] || key;
    Object.keys(values || {}).forEach(function (k) { s = s.split("{" + k + "}").join(String(values[k])); });
    return s;
  }
  function typing(ev) {
    var el = ev.target;
    var tag = el && el.tagName ? el.tagName.toLowerCase() : "";
    return ev.ctrlKey || ev.metaKey || ev.altKey || tag === "input" || tag === "select" ||
      tag === "textarea" || (el && el.isContentEditable);
  }
  function submit(form, button) {
    if (!form) { return; }
    if (form.requestSubmit) { form.requestSubmit(button || undefined); } else { form.submit(); }
  }

  // --- alert queue ---------------------------------------------------------------------------------
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-row]")); }
  var CUR_KEY = "citysoc.queue.current";
  var current = -1;

  function setCurrent(i, focus) {
    var list = rows();
    if (!list.length) { current = -1; return; }
    i = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (r) { r.classList.remove("cur"); r.removeAttribute("aria-current"); });
    var row = list[i];
    row.classList.add("cur");
    row.setAttribute("aria-current", "true");
    current = i;
    try { sessionStorage.setItem(CUR_KEY, row.getAttribute("data-id")); } catch (e) { /* private mode */ }
    if (focus !== false) {
      var link = row.querySelector("a[data-open]");
      if (link) { link.focus({ preventScroll: false }); }
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function restoreCurrent() {
    var id = null;
    try { id = sessionStorage.getItem(CUR_KEY); } catch (e) { id = null; }
    var list = rows();
    var i = list.findIndex(function (r) { return r.getAttribute("data-id") === id; });
    if (i < 0 && current >= 0) { i = Math.min(current, list.length - 1); }
    if (i >= 0) { setCurrent(i, false); }
  }

  function updateCount() {
    var n = document.querySelectorAll("input[data-select]:checked").length;
    var out = document.querySelector("[data-selected-count]");
    if (!out) { return; }
    if (!out.hasAttribute("data-hint")) { out.setAttribute("data-hint", out.textContent); }
    out.textContent = n ? t("selected", { n: n }) : out.getAttribute("data-hint");
  }

  // --- matched-event preview (a panel beside the queue; the row's link opens a full page without JS)
  var panel = document.getElementById("preview-panel");
  var previewSeq = 0;

  function previewOpen() { return !!panel && !panel.hidden; }

  function showPreview(row) {
    if (!panel || !row) { return; }
    var link = row.querySelector("a[data-preview]");
    if (!link) { return; }
    var body = panel.querySelector("[data-preview-body]");
    var seq = ++previewSeq;
    panel.hidden = false;
    panel.setAttribute("data-for", row.getAttribute("data-id") || "");
    panel.setAttribute("aria-busy", "true");
    body.textContent = t("preview_loading");
    fetch(link.getAttribute("data-preview-url") || link.href,
      { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        if (seq !== previewSeq) { return; }  // a later row's preview was asked for meanwhile
        body.innerHTML = html;  // server-rendered and escaped; the CSP runs no script in it
        panel.removeAttribute("aria-busy");
      })
      .catch(function () {
        if (seq !== previewSeq) { return; }
        body.textContent = t("preview_failed");
        panel.removeAttribute("aria-busy");
      });
  }

  function hidePreview() {
    if (!panel) { return; }
    previewSeq++;
    panel.hidden = true;
    panel.removeAttribute("data-for");
  }

  function togglePreview() {
    if (current < 0) { setCurrent(0); }
    var row = rows()[current];
    if (previewOpen() && panel.getAttribute("data-for") === row.getAttribute("data-id")) { hidePreview(); }
    else { showPreview(row); }
  }

  function move(to) {
    setCurrent(to);
    if (previewOpen()) { showPreview(rows()[current]); }
  }

  function rowAction(action) {
    var row = rows()[current];
    if (!row) { return; }
    var button = row.querySelector('button[data-action="' + action + '"]');
    if (button) { submit(button.form, button); }
  }

  function queueKeys(ev) {
    if (typing(ev)) { return; }
    var list = rows();
    if (!list.length) { return; }
    switch (ev.key) {
      case "j": move(current + 1); break;
      case "k": move(current < 0 ? 0 : current - 1); break;
      case "p": togglePreview(); break;
      case "Escape": if (!previewOpen()) { return; } hidePreview(); break;
      case "x": {
        var box = list[Math.max(current, 0)].querySelector("input[data-select]");
        if (box) { box.checked = !box.checked; updateCount(); }
        break;
      }
      case "o": case "Enter": {
        if (ev.key === "Enter" && ev.target && ev.target.tagName && ev.target.tagName.toLowerCase() !== "body") { return; }
        var link = list[Math.max(current, 0)].querySelector("a[data-open]");
        if (link) { window.location.href = link.href; }
        break;
      }
      case "a": rowAction("acknowledged"); break;
      case "e": rowAction("escalated"); break;
      default: return;
    }
    ev.preventDefault();
  }

  function needReason(ev) {
    var button = ev.submitter;
    if (!button) { return; }
    var checks = [["data-needs-reason", "need_reason", "change"], ["data-needs-value", "need_incident", "input"]];
    checks.forEach(function (c) {
      if (ev.defaultPrevented || !button.hasAttribute(c[0])) { return; }
      var field = document.getElementById(button.getAttribute(c[0]));
      if (field && !field.value.trim()) {
        ev.preventDefault();
        field.setCustomValidity(t(c[1]));
        field.reportValidity();
        field.addEventListener(c[2], function () { field.setCustomValidity(""); }, { once: true });
      }
    });
  }

  function autoRefresh() {
    var box = document.querySelector("[data-autorefresh]");
    var wrap = document.querySelector("[data-autorefresh-wrap]");
    var queue = document.getElementById("queue");
    if (!box || !queue) { return; }
    if (wrap) { wrap.hidden = false; }
    try { box.checked = localStorage.getItem("citysoc.autorefresh") !== "off"; } catch (e) { /* ignore */ }
    box.addEventListener("change", function () {
      try { localStorage.setItem("citysoc.autorefresh", box.checked ? "on" : "off"); } catch (e) { /* ignore */ }
    });
    var seconds = parseInt(queue.getAttribute("data-refresh") || "30", 10);
    setInterval(function () {
      var active = document.activeElement;
      var busy = active && active.tagName && ["input", "select", "textarea"].indexOf(active.tagName.toLowerCase()) >= 0;
      if (!box.checked || document.visibilityState !== "visible" || busy) { return; }
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("queue");
          if (!fresh) { return; }
          var checked = Array.prototype.map.call(document.querySelectorAll("input[data-select]:checked"),
            function (b) { return b.value; });
          var hadFocus = queue.contains(document.activeElement);
          queue.innerHTML = fresh.innerHTML;
          var tabs = doc.querySelector("[data-status-tabs]");
          var oldTabs = document.querySelector("[data-status-tabs]");
          if (tabs && oldTabs) { oldTabs.innerHTML = tabs.innerHTML; }
          checked.forEach(function (v) {
            var b = queue.querySelector('input[data-select][value="' + v + '"]');
            if (b) { b.checked = true; }
          });
          bindQueue();
          restoreCurrent();
          if (hadFocus && current >= 0) { setCurrent(current); }
          updateCount();
        })
        .catch(function () { /* the next tick tries again */ });
    }, Math.max(5, seconds) * 1000);
  }

  function bindQueue() {
    var all = document.querySelector("input[data-select-all]");
    if (all) {
      all.addEventListener("change", function () {
        document.querySelectorAll("input[data-select]").forEach(function (b) { b.checked = all.checked; });
        updateCount();
      });
    }
    document.querySelectorAll("input[data-select]").forEach(function (b) {
      b.addEventListener("change", updateCount);
    });
    rows().forEach(function (r, i) {
      r.addEventListener("click", function () { setCurrent(i, false); });
      var link = r.querySelector("a[data-preview]");
      if (link && panel) {
        link.addEventListener("click", function (ev) {
          if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) { return; }  // new tab: the full page
          ev.preventDefault();
          setCurrent(i, false);
          showPreview(r);
        });
      }
    });
  }

  // --- group page ----------------------------------------------------------------------------------
  function groupKeys(ev) {
    if (typing(ev)) { return; }
    var map = { a: "acknowledged", e: "escalated" };
    if (map[ev.key]) {
      var button = document.querySelector('form.triage button[data-action="' + map[ev.key] + '"]');
      if (button) { ev.preventDefault(); submit(button.form, button); }
      return;
    }
    if (ev.key === "j" || ev.key === "k") {
      var links = Array.prototype.slice.call(document.querySelectorAll("tr[data-occ] a[data-preview]"));
      var at = links.findIndex(function (l) { return l.closest("tr").classList.contains("sel"); });
      var next = links[ev.key === "j" ? at + 1 : at - 1];
      if (next) { ev.preventDefault(); window.location.href = next.href; }
    }
  }

  var page = body.getAttribute("data-page");
  if (page === "queue") {
    bindQueue();
    restoreCurrent();
    updateCount();
    autoRefresh();
    document.addEventListener("keydown", queueKeys);
    var bulk = document.getElementById("bulk");
    if (bulk) { bulk.addEventListener("submit", needReason); }
    document.querySelectorAll("input[data-enter]").forEach(function (input) {
      // Enter submits with this field's own button (the form's default button is disabled).
      input.addEventListener("keydown", function (ev) {
        if (ev.key !== "Enter") { return; }
        var button = document.getElementById(input.getAttribute("data-enter"));
        if (button) { ev.preventDefault(); submit(button.form, button); }
      });
    });
    var close = document.querySelector("[data-preview-close]");
    if (close) { close.addEventListener("click", hidePreview); }
  } else if (page === "group") {
    document.addEventListener("keydown", groupKeys);
  }
}());
