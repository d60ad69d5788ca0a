"""Accessibility of every console page in a real browser (Debian Chromium via Playwright), at 1366x768,
in both languages and for both kinds of user (SOC lead, agency officer).

The pages come from the console's route table: a GET page this test does not know how to open (or
explicitly skip, with the reason) fails the test, so a new page cannot escape the checks. On each page:

* text contrast meets WCAG 2.2 AA (4.5:1, 3:1 for large text), computed from the rendered colours over
  the composited background;
* every visible control has an accessible name, ids are unique, links have text, one ``h1``, headings
  never skip a level going down, ``html[lang]`` is the page language, tables have header cells;
* focus order: no positive ``tabindex`` and no CSS reordering of focusable content (so the tab order is
  the reading order), the skip link is the first stop and moves focus to the main content, and every
  stop is visible with a focus indicator;
* nothing scrolls sideways at 1366 px.
"""

from __future__ import annotations

import re
from typing import Any

import fastapi.routing
import pytest

from citysoc.web.console.router import router as console_router

from . import test_browser
from .test_browser import VIEWPORT, load_site_module, unlabelled_controls

pytestmark = pytest.mark.integration
browser = test_browser.browser
site = test_browser.site
page = test_browser.page

# GET routes of the console that are not pages a person reads, with the reason.
NOT_PAGES = {
    "/": "redirects to the first page of the user",
    "/lang/{lang}": "switches the language and redirects",
    "/static/{name}": "CSS and JavaScript",
    "/reports/periodic": "a CSV/HTML/JSON download",
    "/reports/{report_id}/document": "a text download",
}
# Pages that need a query string to show something (filled from the same parameters as paths).
QUERIES = {"/alerts/preview": "?group={group_id}"}

CONTRAST = """() => {
  const parse = (c) => {
    const m = c && c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a), g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a), a: 1 });
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const hidden = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === "none" || s.visibility === "hidden" || parseFloat(s.opacity) === 0) return true;
      if (s.clip === "rect(0px, 0px, 0px, 0px)" || (s.position === "absolute" && e.getBoundingClientRect().width <= 1)) return true;
    }
    const r = el.getBoundingClientRect();
    return r.width === 0 || r.height === 0 || r.right < 0 || r.bottom < 0;
  };
  const bad = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || seen.has(el) || !n.textContent.trim()) continue;
    seen.add(el);
    if (["OPTION", "SCRIPT", "STYLE", "NOSCRIPT"].includes(el.tagName) || el.closest("option, datalist")) continue;
    if (el.closest("[disabled]") || hidden(el)) continue;
    const s = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(s.color), bg);
    const l1 = lum(fg), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize), weight = parseInt(s.fontWeight, 10) || 400;
    const need = size >= 24 || (size >= 18.66 && weight >= 700) ? 3 : 4.5;
    if (ratio + 1e-6 < need) {
      bad.push(`${ratio.toFixed(2)} < ${need}: <${el.tagName.toLowerCase()} class="${el.className}">${n.textContent.trim().slice(0, 40)}`);
    }
  }
  return bad;
}"""

STRUCTURE = """() => {
  const bad = [];
  const ids = {};
  document.querySelectorAll("[id]").forEach((e) => { ids[e.id] = (ids[e.id] || 0) + 1; });
  Object.entries(ids).filter(([, n]) => n > 1).forEach(([id]) => bad.push(`duplicate id ${id}`));
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) bad.push(`${h1} h1 elements`);
  let level = 0;
  document.querySelectorAll("h1, h2, h3, h4, h5, h6").forEach((h) => {
    const l = Number(h.tagName[1]);
    if (level && l > level + 1) bad.push(`heading skips from h${level} to h${l}: ${h.textContent.trim().slice(0, 40)}`);
    level = l;
  });
  if (!document.title.trim()) bad.push("empty title");
  if (!document.querySelector("main")) bad.push("no main landmark");
  document.querySelectorAll("a[href]").forEach((a) => {
    const name = (a.textContent || "").trim() || a.getAttribute("aria-label") || (a.querySelector("img[alt]") || {}).alt;
    if (!name) bad.push(`link without text: ${a.outerHTML.slice(0, 80)}`);
  });
  document.querySelectorAll("table").forEach((t) => {
    if (!t.querySelector("th")) bad.push(`table without header cells: ${t.outerHTML.slice(0, 80)}`);
  });
  document.querySelectorAll("img:not([alt])").forEach((i) => bad.push(`img without alt: ${i.src}`));
  document.querySelectorAll("[tabindex]").forEach((e) => {
    if (Number(e.getAttribute("tabindex")) > 0) bad.push(`positive tabindex: ${e.outerHTML.slice(0, 80)}`);
  });
  const focusable = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]";
  document.querySelectorAll("*").forEach((e) => {
    const s = getComputedStyle(e);
    const reorders = (s.order && s.order !== "0") || s.flexDirection.endsWith("reverse") || s.gridAutoFlow.includes("dense");
    if (reorders && (e.matches(focusable) || e.querySelector(focusable))) {
      bad.push(`CSS reorders focusable content: ${e.outerHTML.slice(0, 80)}`);
    }
  });
  return bad;
}"""

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
  return { tag: el.tagName.toLowerCase(), text: (el.textContent || el.value || "").trim().slice(0, 30),
           visible: r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0, ring,
           skip: el.classList.contains("skip"), id: el.id };
}"""


def _paths(params: dict[str, str]) -> list[str]:
    """Every console page to check, from the route table, with path parameters from ``params``."""
    paths: list[str] = []
    unknown: list[str] = []
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = (
        iterate(console_router.routes) if iterate else console_router.routes
    )  # nested in FastAPI >= 0.165
    for route in routes:
        if "GET" not in (getattr(route, "methods", None) or ()):
            continue
        if route.path in NOT_PAGES:
            continue
        template = route.path + QUERIES.get(route.path, "")
        names = re.findall(r"{(\w+)}", template)
        if any(n not in params for n in names):
            unknown.append(route.path)
            continue
        paths.append(re.sub(r"{(\w+)}", lambda m: params[m.group(1)], template))
    assert not unknown, f"console pages this test cannot open (add them to the test): {unknown}"
    return paths


def _check(page: Any, url: str) -> list[str]:
    """Problems of the page at ``url`` (none when the user may not open it: 403 is checked elsewhere)."""
    response = page.goto(url)
    assert response is not None, url
    if response.status == 403:
        return []
    assert response.status == 200, (url, response.status)
    problems = [f"contrast {p}" for p in page.evaluate(CONTRAST)]
    problems += page.evaluate(STRUCTURE)
    problems += [f"unlabelled {c}" for c in unlabelled_controls(page)]
    if page.evaluate("document.documentElement.scrollWidth") > VIEWPORT["width"]:
        problems.append("scrolls sideways at 1366 px")
    return problems


def _focus_walk(page: Any, stops: int = 25, from_top: bool = True) -> list[str]:
    """Tab from the top of the page: the skip link first (Enter moves focus to main), then every stop
    visible with a focus indicator."""
    problems: list[str] = []
    if from_top:
        page.keyboard.press("Tab")
        first = page.evaluate(FOCUSED)
        if not (first and first["skip"] and first["visible"]):
            problems.append(f"first tab stop is not the visible skip link: {first}")
        page.keyboard.press("Enter")
        if page.evaluate("document.activeElement && document.activeElement.id") != "main":
            problems.append("the skip link does not move focus to main")
    for _ in range(stops):
        page.keyboard.press("Tab")
        f = page.evaluate(FOCUSED)
        if f is None:
            break
        if not f["visible"] or not f["ring"]:
            problems.append(f"focus stop without a visible indicator: {f}")
    return problems


def _login(page: Any, site: Any, user: str) -> None:
    mod = load_site_module()
    page.goto(site.url + "/login")
    page.fill("#username", user)
    page.fill("#password", mod.PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()


def test_every_console_page_is_accessible(page: Any, site: Any, browser: Any) -> None:
    incident = load_site_module().seed_incident(site)  # with tasks for hcm-dost and q1
    group = next(g for g in site.groups if g["key"].get("host") == "web04")
    paths = _paths({"group_id": str(group["id"]), "incident_id": str(incident)})
    assert {"/alerts", "/incidents", "/registry/systems", "/monitoring", "/rules", "/reports"} <= set(paths)
    problems: dict[str, list[str]] = {}
    unauthenticated = _check(page, site.url + "/login")
    # The login form focuses the user name field itself; the walk goes on from there.
    if page.evaluate("document.activeElement.id") != "username":
        unauthenticated.append("the login page does not start in the user name field")
    unauthenticated += _focus_walk(page, stops=5, from_top=False)
    if unauthenticated:
        problems["/login"] = unauthenticated
    _login(page, site, "lead")
    for lang in ("vi", "en"):
        page.goto(f"{site.url}/lang/{lang}?next=/alerts")
        for path in paths:
            found = _check(page, site.url + path)
            if lang == "vi":
                found += _focus_walk(page)
            if page.locator("html").get_attribute("lang") != lang:
                found.append(f"html lang is not {lang}")
            if found:
                problems[f"{lang} {path}"] = found
    # The officer's view of the same pages (the ones their role may open).
    officer = browser.new_context(viewport=VIEWPORT, locale="vi-VN")
    try:
        op = officer.new_page()
        _login(op, site, "officer")
        own = next(g for g in site.groups if g["agency"] == "q1")
        for path in _paths({"group_id": str(own["id"]), "incident_id": str(incident)}):
            found = _check(op, site.url + path)
            if found:
                problems[f"officer {path}"] = found
    finally:
        officer.close()
    assert problems == {}, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in problems.items())
