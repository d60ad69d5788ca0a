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
from pathlib import Path

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
            incident = site_mod.seed_incident(site)
            pages = [
                ("01-alerts", "ana", "/alerts"),
                ("02-alerts-filtered", "ana", "/alerts?agency=hcm-dost&sort=-count"),
                ("03-group", "ana", f"/alerts/groups/{group['id']}"),
                ("04-agencies", "ana", "/registry/agencies"),
                ("05-systems", "ana", "/registry/systems"),
                ("06-monitoring", "ana", "/monitoring"),
                ("07-rules", "ana", "/rules"),
                ("08-alerts-en", "ana", "/alerts?lang=en"),
                ("09-group-en", "ana", f"/alerts/groups/{group['id']}"),
                ("10-officer-alerts", "officer", "/alerts?lang=vi"),
                ("11-officer-systems", "officer", "/registry/systems"),
                ("12-officer-tasks", "officer", "/tasks"),
                ("13-incidents", "ana", "/incidents?lang=vi"),
                ("14-incident", "ana", f"/incidents/{incident}"),
                ("15-tasks", "ana", "/tasks"),
                ("16-reports", "ana", "/reports"),
            ]
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=FLAGS, headless=True)
                contexts: dict[str, object] = {}
                shot = browser.new_page(viewport={"width": 1366, "height": 768})
                shot.goto(site.url + "/login")
                shot.screenshot(path=str(args.out / "00-login.png"))
                for name, user, path in pages:
                    if user not in contexts:
                        ctx = browser.new_context(viewport={"width": 1366, "height": 768})
                        page = ctx.new_page()
                        page.goto(site.url + "/login")
                        page.fill("#username", user)
                        page.fill("#password", site_mod.PASSWORD)
                        page.click("button[type=submit].primary")
                        page.wait_for_load_state()
                        contexts[user] = page
                    page = contexts[user]  # type: ignore[assignment]
                    t0 = time.perf_counter()
                    page.goto(site.url + path)  # type: ignore[attr-defined]
                    ms = (time.perf_counter() - t0) * 1000
                    page.screenshot(path=str(args.out / f"{name}.png"))  # type: ignore[attr-defined]
                    print(f"{name}.png  {path}  ({ms:.0f} ms to load)")
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
            for _name, user, path in pages:
                if user != "ana":
                    continue
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
