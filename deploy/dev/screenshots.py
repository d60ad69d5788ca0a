"""``make screenshots``: PNGs of every console page at 1366x768 for review (not committed).

Starts a demo ``citysoc run`` with ``console_site.py``, logs in through the form with Debian's Chromium
driven by Playwright, and saves one PNG per page (Vietnamese, plus the queue in English and the
agency officer's view) into ``--out`` (default ``screenshots/``). Prints the server time of each page.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


MANAGE_VIEWS = "[data-testid=manage-views] summary"


@dataclass(frozen=True)
class Page:
    """One screenshot: ``user`` opens ``path``, presses ``keys``, clicks ``opens`` (disclosures)."""

    name: str
    user: str
    path: str
    keys: tuple[str, ...] = ()
    opens: tuple[str, ...] = ()
    full: bool = False
    """The whole page, not only the first 1366x768."""


def _site_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("citysoc_console_site", HERE / "console_site.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("screenshots"))
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("screenshots: the Python package playwright is missing (make dev installs it)", file=sys.stderr)
        return 1
    if not Path(args.chromium).exists():
        print(f"screenshots: no Chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    site_mod = _site_module()
    with tempfile.TemporaryDirectory(prefix="citysoc-screens-") as tmp:
        site = site_mod.start_site(Path(tmp))
        try:
            group = next(g for g in site.groups if g["key"].get("host") == "web04")
            officer_group = next(g for g in site.groups if g["agency"] == "q1")
            incident = site_mod.seed_incident(site)
            site_mod.seed_suppression(site)
            pages: list[Page] = [
                Page("01-alerts", "ana", "/alerts"),
                Page("02-alerts-filtered", "ana", "/alerts?agency=hcm-dost&sort=-count&suppressed=include"),
                Page("03-alerts-flat", "ana", "/alerts?view=flat"),
                Page("04-alerts-preview", "ana", "/alerts", keys=("j", "p")),
                Page(
                    "05-alerts-saved-views",
                    "ana",
                    "/alerts?level=high",
                    opens=(MANAGE_VIEWS,),
                ),
                Page("06-group", "ana", f"/alerts/groups/{group['id']}"),
                Page("07-incidents", "ana", "/incidents", opens=("#new summary",)),
                Page("08-incident", "ana", f"/incidents/{incident}"),
                Page("09-incident-full", "ana", f"/incidents/{incident}", full=True),
                Page("10-tasks", "ana", "/tasks"),
                Page("11-reports", "ana", "/reports"),
                Page("12-agencies", "ana", "/registry/agencies"),
                Page("13-systems", "ana", "/registry/systems"),
                Page("14-monitoring", "ana", "/monitoring"),
                Page("15-rules", "ana", "/rules"),
                Page("16-suppressions", "lead", "/suppressions", opens=("#new summary",)),
                Page("17-alerts-en", "ana", "/alerts?lang=en"),
                Page("18-group-en", "ana", f"/alerts/groups/{group['id']}"),
                Page("19-incident-en", "ana", f"/incidents/{incident}"),
                Page("20-officer-alerts", "officer", "/alerts?lang=vi"),
                Page("21-officer-group", "officer", f"/alerts/groups/{officer_group['id']}"),
                Page("22-officer-systems", "officer", "/registry/systems"),
                Page("23-officer-tasks", "officer", "/tasks"),
                Page("24-officer-incident", "officer", f"/incidents/{incident}"),
            ]
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=FLAGS, headless=True)
                tabs: dict[str, Any] = {}
                shot = browser.new_page(viewport={"width": 1366, "height": 768})
                shot.goto(site.url + "/login")
                shot.screenshot(path=str(args.out / "00-login.png"))
                for pg in pages:
                    if pg.user not in tabs:
                        tab = browser.new_context(
                            viewport={"width": 1366, "height": 768}, locale="vi-VN"
                        ).new_page()
                        tab.goto(site.url + "/login")
                        tab.fill("#username", pg.user)
                        tab.fill("#password", site_mod.PASSWORD)
                        tab.click("button[type=submit].primary")
                        tab.wait_for_load_state()
                        tabs[pg.user] = tab
                    tab = tabs[pg.user]
                    t0 = time.perf_counter()
                    tab.goto(site.url + pg.path)
                    ms = (time.perf_counter() - t0) * 1000
                    for key in pg.keys:
                        tab.keyboard.press(key)
                    for selector in pg.opens:
                        tab.click(selector)
                    if pg.keys:
                        tab.wait_for_timeout(300)  # the preview panel loads its fragment
                    tab.screenshot(path=str(args.out / f"{pg.name}.png"), full_page=pg.full)
                    print(f"{pg.name}.png  {pg.path}  ({ms:.0f} ms to load)")
                browser.close()
            # Server time per page, measured without the browser (median of 5 requests).
            cookies = httpx.Client(base_url=site.url, follow_redirects=False)
            login = cookies.get("/login")
            token = login.cookies.get("citysoc_csrf", "")
            cookies.post(
                "/login",
                data={"username": "ana", "password": site_mod.PASSWORD, "csrf": token},
                headers={"Origin": site.url},
            )
            for path in dict.fromkeys(pg.path for pg in pages if pg.user == "ana"):
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    r = cookies.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
                print(f"server {path}: median {sorted(times)[2]:.1f} ms")
        finally:
            site.stop()
    print(f"screenshots in {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
