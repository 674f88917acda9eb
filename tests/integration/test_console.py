"""The console (GET /ui/ on the admin listener) in a real browser: headless Chromium driven by
Selenium (Debian's chromium, chromium-driver and python3-selenium; run with /usr/bin/python3)
against the real binary, real backends and steady traffic.

One cutover with a tokens file (an admin token and a read-only one) and two routes: "app" (plain)
and "api" (every GET mirrored to target and compared; the backends' JSON answers name their side,
so each comparison is a mismatch at $.side). Checked, in order:
  - the page's own files come with the security headers (CSP without inline script, no framing,
    nosniff);
  - with the read-only token the page hides every control, and a change sent with that token from
    the page's own origin is refused (403) and changes nothing;
  - with the admin token: the target's requests/s on the chart rise after a weight change made
    through the API (they were 0 before);
  - a ramp shows its steps with the current one marked, and its gates; its first step waits for
    approval, and Approve on the page (confirmed) lets it go on, audited with the token's name;
  - a mismatch sample opens with the two answers side by side and the differing JSON path marked;
  - Rollback with the keyboard only (Tab to it, Enter, the dialog opens on Cancel, Tab, Enter)
    sets both weights to 0 (through the API) and traffic then reaches only the source;
  - at a phone's width (390 px) the page does not scroll sideways and the controls stay on screen;
  - Maintenance on and off from the page (confirmed): 503 with Retry-After meanwhile, audited;
  - on a fleet node (two nodes, one real etcd member) the fleet panel lists the nodes with the
    revision each applied, the ramp leader, and etcd going down and coming back;
  - no error in the browser's console from the page's load to the end.
Screenshots go to $CUTOVER_ARTIFACTS (default: a temp dir), named console-*.png.
"""
from __future__ import annotations

import http.client
import os
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from etcd_cluster import EtcdCluster  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ADMIN_SECRET = "ops-secret-1"
VIEWER_SECRET = "viewer-secret-2"
ARTIFACTS = Path(os.environ.get("CUTOVER_ARTIFACTS") or Path(tempfile.gettempdir()) / "cutover-artifacts")


class Traffic:
    """GETs at about 40/s in total to /app/… and /echo-headers (route "api") until stop() or
    120 s; each answer's side counted per path."""

    def __init__(self, port: int):
        self.port = port
        self.stop_event = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        deadline = time.monotonic() + 120
        conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=10)
        i = 0
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            path = "/echo-headers" if i % 4 == 3 else f"/app/{i}"
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.errors.append(f"{path}: {resp.status}")
            except (OSError, http.client.HTTPException) as e:
                self.errors.append(f"{path}: {e!r}")
                conn.close()
                conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=10)
            i += 1
            time.sleep(0.025)
        conn.close()

    def stop(self):
        self.stop_event.set()
        self.thread.join(15)


def browser() -> webdriver.Chrome:
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,720", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class ConsoleTest(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cfg = h.make_config(
            {"src": h.cluster(cls.be.source.addr), "tgt": h.cluster(cls.be.target.addr)},
            [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
              "routes": [h.route("api", path_prefix="/echo-headers", weight=0,
                                 mirror={"percent": 100, "timeout": "5s",
                                         "compare": {"ignore_headers": ["date"]}}),
                         h.route("app", path_prefix="/", weight=0)]}])
        tokens = Path(tempfile.mkdtemp(prefix="cutover-console-")) / "tokens.txt"
        tokens.write_text(f"ops:{ADMIN_SECRET}\nviewer:{VIEWER_SECRET}:read\n")
        cfg["admin"]["tokens_file"] = str(tokens)
        cls.start_cutover(cfg, "console")
        cls.auth = {"Authorization": f"Bearer {ADMIN_SECRET}"}
        cls.traffic = Traffic(cls.port)
        cls.driver = browser()
        cls.addClassCleanup(cls.driver.quit)
        cls.addClassCleanup(cls.traffic.stop)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def admin_url(self, path: str) -> str:
        return f"http://{h.LOCALHOST}:{self.cv.admin_addr[1]}{path}"

    def screenshot(self, name: str):
        path = ARTIFACTS / f"console-{name}.png"
        self.driver.save_screenshot(str(path))
        sys.stderr.write(f"\nscreenshot: {path}\n")

    def wait(self, cond, timeout: float = 20, message: str = ""):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(cond, message)

    def route_section(self, name: str):
        return self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, f'section[data-route="{name}"]')),
                         message=f"no section for route {name}")

    def use_token(self, secret: str, expect: str):
        field = self.driver.find_element(By.ID, "token")
        field.clear()
        field.send_keys(secret)
        self.driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        self.wait(EC.text_to_be_present_in_element((By.ID, "identity"), expect), message=f"identity never said {expect}")

    def chart_values(self, route: str, chart: str, side: int) -> list:
        return self.driver.execute_script(
            "const c = Chart.getChart(document.querySelector(arguments[0]));"
            "return c ? c.data.datasets[arguments[1]].data : null;",
            f'section[data-route="{route}"] .c-{chart}', side)

    def test_console(self):
        d = self.driver
        # The page's own files and their headers.
        conn = http.client.HTTPConnection(h.LOCALHOST, self.cv.admin_addr[1], timeout=10)
        for path, kind in (("/ui/", "text/html"), ("/ui/console.js", "text/javascript"), ("/ui/chart.js", "text/javascript")):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            self.assertEqual((resp.status, resp.getheader("Content-Type", "").split(";")[0]), (200, kind), path)
            csp = resp.getheader("Content-Security-Policy", "")
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertEqual(resp.getheader("X-Frame-Options"), "DENY")
            self.assertEqual(resp.getheader("X-Content-Type-Options"), "nosniff")
        conn.close()

        d.get(self.admin_url("/ui/"))
        app = self.route_section("app")
        self.route_section("api")

        # Read-only token: every control hidden; a change with it from the page's origin is refused.
        self.use_token(VIEWER_SECRET, 'token "viewer" (read)')
        self.assertFalse(app.find_element(By.CSS_SELECTOR, ".rollback").is_displayed())
        self.assertFalse(app.find_element(By.CSS_SELECTOR, "form.weights").is_displayed())
        self.assertEqual([b for b in d.find_elements(By.CSS_SELECTOR, ".control") if b.is_displayed()], [])
        self.screenshot("read-only")

        # Admin token: the controls appear.
        self.use_token(ADMIN_SECRET, 'token "ops" (admin)')
        self.wait(lambda _: app.find_element(By.CSS_SELECTOR, ".rollback").is_displayed(), message="no Rollback")

        # The target's requests/s rise on the chart after a weight change made through the API.
        self.wait(lambda _: any(v and v > 0 for v in (self.chart_values("app", "rps", 0) or [])), 30,
                  "the source's requests/s never showed")
        self.assertFalse(any(v and v > 0 for v in self.chart_values("app", "rps", 1)), "target traffic at weight 0")
        st, _, text = self.admin.request("PUT", "/v1/routes/app/weights", {"read_weight": 50, "write_weight": 50},
                                         headers=self.auth)
        self.assertEqual(st, 200, text)
        self.wait(lambda _: any(v and v > 0 for v in (self.chart_values("app", "rps", 1) or [])), 30,
                  "the target's requests/s never rose on the chart")
        self.wait(EC.text_to_be_present_in_element((By.CSS_SELECTOR, 'section[data-route="app"] .f-read'), "50 %"))
        self.screenshot("weights-50")

        # A ramp on route "api" shows its steps, the current one marked, and its gates.
        st, _, text = self.admin.request("POST", "/v1/routes/api/ramp", {
            "steps": [{"weight": 5, "approve": True}, 25, 100], "interval": "1h",
            "gates": {"max_error_rate": 0.01, "max_p99_ms": 500, "min_requests": 5}}, headers=self.auth)
        self.assertEqual(st, 200, text)
        api = self.route_section("api")
        current = self.wait(lambda _: api.find_elements(By.CSS_SELECTOR, '.ramp-steps li[aria-current="step"]'), 20,
                            "no current ramp step")[0]
        self.assertIn("5 %", current.text)
        self.assertIn("approval", current.text)
        self.wait(lambda _: len(api.find_elements(By.CSS_SELECTOR, ".gates tbody tr")) >= 2, 30, "no gate values")

        # The step waits for approval: Approve… on the page, confirmed, lets the ramp go on.
        self.assertIn("awaiting approval", api.find_element(By.CSS_SELECTOR, ".ramp-state").text)
        approve = api.find_element(By.CSS_SELECTOR, ".ramp-approve")
        self.wait(lambda _: approve.is_displayed(), message="no Approve button while awaiting approval")
        d.execute_script("arguments[0].scrollIntoView()", approve)
        approve.click()
        dialog = d.find_element(By.ID, "confirm")
        self.wait(lambda _: dialog.is_displayed(), message="no confirmation dialog for the approval")
        self.assertIn("Ramp: approve", dialog.text)
        d.find_element(By.ID, "confirm-ok").click()
        self.assertTrue(h.wait_for(lambda: self.admin.request("GET", "/v1/routes/api/ramp")[1]["state"] == "running",
                                   10), "the approval did not reach the ramp")
        entry = [e for e in self.admin.request("GET", "/v1/audit?limit=10")[1]["entries"]
                 if e["action"] == "ramp_approve"]
        self.assertEqual([(e["actor"], e["ramp_step"]) for e in entry], [("ops", 1)])
        self.wait(lambda _: not approve.is_displayed(), message="Approve still shown on a running ramp")

        # A mismatch sample of route "api": both answers side by side, the differing path marked.
        sample = self.wait(lambda _: api.find_elements(By.CSS_SELECTOR, ".samples button"), 30, "no mismatch sample")[0]
        d.execute_script("arguments[0].scrollIntoView()", sample)
        sample.click()
        detail = api.find_element(By.CSS_SELECTOR, ".sample")
        self.wait(lambda _: detail.is_displayed(), message="the sample did not open")
        self.assertIn("$.side", detail.find_element(By.CSS_SELECTOR, ".sample-differences").text)
        # Each body shows its own side with the key "side" marked (pretty-printed when the sample
        # holds the whole JSON document, marked where it appears when the sample is cut short).
        for cls, side in (("primary-body", "source"), ("shadow-body", "target")):
            body = detail.find_element(By.CSS_SELECTOR, f".{cls}")
            self.assertIn(f'"side": "{side}"', body.text)
            marked = [m.text for m in body.find_elements(By.CSS_SELECTOR, "mark.diff")]
            self.assertTrue(any('"side"' in m for m in marked), (cls, marked))
        self.screenshot("mismatch-sample")
        # The README's picture: the ramp and the open sample on one tall page.
        d.set_window_size(1280, 1500)
        d.execute_script("arguments[0].scrollIntoView()", api)
        time.sleep(0.5)
        self.screenshot("ramp-and-mismatch")
        d.set_window_size(1280, 720)

        # Rollback from the page with the keyboard only: Tab to the button, Enter, the dialog opens
        # on Cancel (the safe default), Tab to Confirm, Enter. Then both weights 0 and traffic to
        # source only.
        d.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur();")
        keys = ActionChains(d)
        for _ in range(200):
            if d.execute_script("return document.activeElement.matches(arguments[0])",
                                'section[data-route="app"] .rollback'):
                break
            keys.send_keys(Keys.TAB).perform()
        else:
            self.fail("Tab never reached the Rollback button of route app")
        keys.send_keys(Keys.ENTER).perform()
        dialog = d.find_element(By.ID, "confirm")
        self.wait(lambda _: dialog.is_displayed(), message="no confirmation dialog")
        self.assertIn('Roll back route "app"', dialog.text)
        self.assertEqual(d.switch_to.active_element.get_attribute("id"), "confirm-cancel")
        self.screenshot("rollback-confirm")
        keys.send_keys(Keys.TAB).perform()
        self.assertEqual(d.switch_to.active_element.get_attribute("id"), "confirm-ok")
        keys.send_keys(Keys.ENTER).perform()
        self.assertTrue(h.wait_for(lambda: self.admin.route("app")["read_weight"] == 0
                                   and self.admin.route("app")["write_weight"] == 0, 10), self.admin.route("app"))
        entry = self.admin.request("GET", "/v1/audit?limit=5")[1]["entries"][-1]
        self.assertEqual((entry["action"], entry["actor"]), ("rollback", "ops"))
        mark = len(self.be.target.events_snapshot())
        time.sleep(1.5)
        source_before = len(self.be.source.events_snapshot())
        time.sleep(1.5)
        self.assertGreater(len(self.be.source.events_snapshot()), source_before, "no traffic after the rollback")
        late = [e.path for e in self.be.target.events_snapshot()[mark:] if e.path.startswith("/app/")]
        self.assertEqual(late, [], "requests of route app reached target after the rollback")
        self.screenshot("after-rollback")

        # At a phone's width the page fits: no sideways scrolling, the controls still on screen.
        d.set_window_size(390, 844)
        time.sleep(0.5)
        d.execute_script("window.scrollTo(0, 0)")
        width = d.execute_script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        self.assertLessEqual(width[0], width[1] + 1, f"the page scrolls sideways at a phone's width: {width}")
        rb = app.find_element(By.CSS_SELECTOR, ".rollback")
        self.assertTrue(rb.is_displayed())
        self.assertLessEqual(rb.rect["x"] + rb.rect["width"], width[1] + 1)
        self.screenshot("phone")
        d.set_window_size(1280, 720)

        # Nothing in the browser's console from the load until now.
        errors = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
        self.assertEqual(errors, [])
        self.assertEqual(self.traffic.errors, [])

        # A forged change with the read-only token, from the page's origin: refused, nothing changes.
        status = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/v1/routes/app/weights', {method: 'PUT', headers: {'Authorization': 'Bearer ' + arguments[0],"
            " 'Content-Type': 'application/json'}, body: JSON.stringify({read_weight: 100, write_weight: 100})})"
            ".then((r) => done(r.status), () => done(-1));", VIEWER_SECRET)
        self.assertEqual(status, 403)
        self.assertEqual(self.admin.route("app")["read_weight"], 0)

        # Maintenance from the page: on (confirmed) answers 503 with Retry-After from cutover itself,
        # off (confirmed) lets requests through again. (The traffic's 503s meanwhile are expected:
        # its errors were checked above.)
        self.confirm(app, ".maintenance-on", "Maintenance on")
        self.assertTrue(h.wait_for(lambda: (self.admin.route("app").get("maintenance") or {}).get("status") == 503, 10),
                        self.admin.route("app"))
        self.wait(EC.text_to_be_present_in_element((By.CSS_SELECTOR, 'section[data-route="app"] .f-maintenance'),
                                                   "ON: answers 503"))
        conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=10)
        conn.request("GET", "/app/maintenance")
        resp = conn.getresponse()
        resp.read()
        self.assertEqual((resp.status, resp.getheader("Retry-After")), (503, "120"))
        self.screenshot("maintenance")
        self.confirm(app, ".maintenance-off", "Maintenance off")
        self.assertTrue(h.wait_for(lambda: not self.admin.route("app").get("maintenance"), 10), self.admin.route("app"))
        conn.request("GET", "/app/after-maintenance")
        resp = conn.getresponse()
        resp.read()
        self.assertEqual(resp.status, 200)
        conn.close()
        actions = [e["action"] for e in self.admin.request("GET", "/v1/audit?limit=5")[1]["entries"]]
        self.assertEqual(actions[-2:], ["maintenance_on", "maintenance_off"])

    def confirm(self, section, button: str, title: str):
        """Clicks `button` in `section` and confirms the dialog titled `title`."""
        b = section.find_element(By.CSS_SELECTOR, button)
        self.wait(lambda _: b.is_displayed(), message=f"{button} not shown")
        self.driver.execute_script("arguments[0].scrollIntoView()", b)
        b.click()
        dialog = self.driver.find_element(By.ID, "confirm")
        self.wait(lambda _: dialog.is_displayed(), message=f"no confirmation dialog after {button}")
        self.assertIn(title, dialog.text)
        self.driver.find_element(By.ID, "confirm-ok").click()
        self.wait(lambda _: not dialog.is_displayed(), message="the dialog stayed open")



class ConsoleFleetTest(unittest.TestCase):
    """The fleet panel: two nodes sharing one real etcd member, the page of one of them."""

    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(members=1)
        cls.addClassCleanup(cls.etcd.close)
        cls.be = h.Backends()
        cls.addClassCleanup(cls.be.close)
        cls.nodes = {}
        for name in ("n1", "n2"):
            cfg = h.make_config({"src": h.cluster(cls.be.source.addr), "tgt": h.cluster(cls.be.target.addr)},
                                [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
                                  "routes": [h.route("app", weight=0)]}])
            cfg["fleet"] = {"node": name, "etcd": {"endpoints": cls.etcd.endpoints, "prefix": "/cutover-console/",
                                                   "lease_ttl": "2s"}}
            cls.nodes[name] = h.Cutover(cfg, name=f"console-{name}").start()
            cls.addClassCleanup(cls.nodes[name].stop)
        cls.driver = browser()
        cls.addClassCleanup(cls.driver.quit)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def test_fleet_panel_shows_nodes_revisions_leader_and_etcd(self):
        d, n2 = self.driver, self.nodes["n2"]
        d.get(f"http://{h.LOCALHOST}:{n2.admin_addr[1]}/ui/")
        wait = WebDriverWait(d, 20, poll_frequency=0.2)
        box = wait.until(EC.visibility_of_element_located((By.ID, "fleet")), "no fleet panel on a fleet node")
        summary = d.find_element(By.ID, "fleet-summary")
        wait.until(lambda _: "etcd up" in summary.text and "ramp leader n" in summary.text, "no leader or etcd state")
        self.assertIn("this node: n2", summary.text)
        # A change through n1: both rows show the revision that applied it.
        st, js, text = self.nodes["n1"].admin.put("/v1/routes/app/weights", {"weight": 30})
        self.assertEqual(st, 200, text)
        revision = str(js["fleet"]["revision"])
        # The rows as [node, revision, role], read in one call: the page redraws them every second.
        rows = lambda: d.execute_script(
            "return [...document.querySelectorAll('#fleet-nodes tr')]"
            ".map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent));")
        wait.until(lambda _: sorted(r[:2] for r in rows()) == [["n1", revision], ["n2", revision]],
                   f"rows never showed revision {revision}")
        leader = self.nodes["n1"].admin.get("/v1/fleet")[1]["leader"]
        self.assertEqual([r[0] for r in rows() if r[2] == "ramp leader"], [leader])
        d.execute_script("arguments[0].scrollIntoView()", box)
        d.save_screenshot(str(ARTIFACTS / "console-fleet.png"))
        # etcd gone: the panel says so; the page keeps working.
        self.etcd.stop_all()
        wait.until(lambda _: "etcd DOWN" in summary.text, "the panel never showed etcd down")
        self.etcd.start_all()
        wait.until(lambda _: "etcd up" in summary.text, "the panel never showed etcd back")
        self.assertEqual([e for e in d.get_log("browser") if e.get("level") == "SEVERE"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
