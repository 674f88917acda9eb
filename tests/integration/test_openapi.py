#!/usr/bin/env python3
"""docs/admin-api.openapi.yaml against the real binary.

The description comes from the binary itself (GET /v1/openapi.yaml). Every path and method it
names gets real calls, each with {route} filled with a real route name: none may be answered 404
"no such endpoint", every status must be one the description lists for that operation, and every
JSON body must validate against the listed response schema (Draft 2020-12, python3-jsonschema).
The calls cover routes with a ramp, a write hold, a mirror with mismatches, a tcp route, window
statistics, the audit log, config reloads that pass and fail, and the error answers (400, 401, 403,
404, 405, 409, 422) with their headers.
Runs under Debian's /usr/bin/python3 (python3-yaml, python3-jsonschema).
"""
import http.client
import json
import os
import sys
import tempfile
from pathlib import Path

import jsonschema
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

TOKEN = "openapi-s3cret"
VIEWER_TOKEN = "read-only-viewer-token"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


class Answer:
    def __init__(self, method, target, status, headers, text):
        self.method, self.target, self.status, self.headers, self.text = method, target, status, headers, text

    def json(self):
        return json.loads(self.text)

    def __repr__(self):
        return f"{self.method} {self.target} -> {self.status} {self.text[:300]!r}"


class OpenApiTest(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cls.tmp = Path(tempfile.mkdtemp(prefix="cutover-it-openapi-"))
        tokens = cls.tmp / "tokens"
        tokens.write_text(f"ops:{TOKEN}\nviewer:{VIEWER_TOKEN}:read\n")
        clusters = {"src": h.cluster(cls.be.source.addr), "tgt": h.cluster(cls.be.target.addr)}
        mirror = {"percent": 100, "timeout": "5s", "compare": {"ignore_headers": ["date"]}}
        cfg = h.make_config(clusters, [
            {"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
             "routes": [h.route("api", path_prefix="/api/", weight=0),
                        h.route("app", path_prefix="/", weight=0, mirror=mirror)]},
            {"name": "db", "address": f"{h.LOCALHOST}:0", "protocol": "tcp",
             "routes": [{"name": "pg", "source": "src", "target": "tgt", "weight": 0}]}])
        cfg["admin"]["tokens_file"] = str(tokens)
        cls.start_cutover(cfg, "openapi")
        cls.answers: list[Answer] = []
        status, _, text = cls.admin.get("/v1/openapi.yaml")
        assert status == 200, text[:300]
        cls.spec = yaml.safe_load(text)

    # ---------------------------------------------------------------------------------------

    def call(self, method, target, body=None, raw=None, token=True) -> Answer:
        """token: True for the admin token, False for none, or a token's secret."""
        conn = http.client.HTTPConnection(h.LOCALHOST, self.admin.port, timeout=30)
        try:
            secret = TOKEN if token is True else token
            headers = {"Authorization": f"Bearer {secret}"} if secret else {}
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, target, body=data, headers=headers)
            resp = conn.getresponse()
            answer = Answer(method, target, resp.status, {k.lower(): v for k, v in resp.getheaders()},
                            resp.read().decode("utf-8", "replace"))
        finally:
            conn.close()
        self.answers.append(answer)
        self.check(answer)
        return answer

    def operation(self, method, target):
        """The spec's (template, operation) for a concrete path, by matching its segments."""
        path = target.split("?", 1)[0]
        segs = path.strip("/").split("/")
        for template, item in self.spec["paths"].items():
            parts = template.strip("/").split("/")
            if len(parts) == len(segs) and all(p.startswith("{") or p == s for p, s in zip(parts, segs)):
                return template, item.get(method.lower())
        return None, None

    def schema(self, ref_or_schema):
        """A schema that resolves its $refs against the whole document."""
        return dict(ref_or_schema, **{"$schema": "https://json-schema.org/draft/2020-12/schema"})

    def validate(self, instance, schema, what):
        resolver = jsonschema.RefResolver.from_schema(self.spec)
        validator = jsonschema.Draft202012Validator(self.schema(schema), resolver=resolver,
                                                    format_checker=jsonschema.FormatChecker())
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        self.assertEqual([], [f"{list(e.path)}: {e.message}" for e in errors[:5]], what)

    def response_of(self, op, status):
        response = op["responses"].get(str(status))
        if response and "$ref" in response:
            response = self.spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        return response

    def check(self, a: Answer):
        """The answer is one the spec lists for its operation, its body of the listed schema."""
        template, op = self.operation(a.method, a.target)
        if a.status == 404 and a.text and a.headers.get("content-type") == "application/json":
            self.assertNotEqual(a.json(), {"error": "no such endpoint"}, a)
        if template is None or op is None:
            return  # a path or method the spec does not have: only the 404/405 checks below apply
        response = self.response_of(op, a.status)
        self.assertIsNotNone(response, f"{a}: status {a.status} is not in the spec of {a.method} {template}")
        content = response.get("content", {})
        ctype = a.headers.get("content-type", "").split(";")[0]
        self.assertIn(ctype, content, f"{a}: content type {ctype!r} not in the spec")
        if ctype == "application/json":
            self.validate(a.json(), content[ctype]["schema"], repr(a))
        for name in response.get("headers", {}):
            self.assertIn(name.lower(), a.headers, f"{a}: header {name} missing")

    def routed_operations(self):
        return {(m.upper(), p) for p, item in self.spec["paths"].items() for m in item if m in METHODS}

    def called_operations(self):
        out = set()
        for a in self.answers:
            template, op = self.operation(a.method, a.target)
            if op is not None:
                out.add((a.method, template))
        return out

    # ---------------------------------------------------------------------------------------

    def test_every_described_operation_answers_as_described(self):
        # Health, metrics and the description itself.
        self.assertEqual(self.call("GET", "/healthz").json(), {"status": "ok"})
        self.assertEqual(self.call("GET", "/readyz").status, 200)
        self.assertIn("cutover_route_weight", self.call("GET", "/metrics").text)
        self.assertEqual(yaml.safe_load(self.call("GET", "/v1/openapi.yaml").text)["openapi"], "3.1.0")

        # Traffic through the mirrored route, so the shadow view and the stats have samples.
        for i in range(10):
            st, _, _ = self.plain_get(f"/users/{i}")
            self.assertEqual(st, 200)
        shadow = h.wait_for(lambda: self.admin.get("/v1/shadow?route=app")[1]["routes"][0]["compared"] >= 10, 20)
        self.assertTrue(shadow, self.admin.get("/v1/shadow?route=app")[2])

        # Weights: http and tcp routes, and their errors.
        self.assertEqual(self.call("PUT", "/v1/routes/app/weights", {"read_weight": 50, "write_weight": 0,
                                                                      "reason": "reads first"}).status, 200)
        self.assertEqual(self.call("PUT", "/v1/routes/pg/weights", {"weight": 10}).status, 200)
        self.assertEqual(self.call("PUT", "/v1/routes/pg/weights", {"read_weight": 10}).status, 422)
        self.assertEqual(self.call("PUT", "/v1/routes/app/weights", {"wieght": 1}).status, 422)
        self.assertEqual(self.call("PUT", "/v1/routes/app/weights", raw=b"{not json").status, 400)
        stale = self.call("PUT", "/v1/routes/app/weights", {"weight": 5, "if_generation": 999})
        self.assertEqual(stale.status, 409)
        self.assertIn("generation", stale.json())
        unauthorized = self.call("PUT", "/v1/routes/app/weights", {"weight": 5}, token=False)
        self.assertEqual(unauthorized.status, 401)
        self.assertEqual(unauthorized.headers.get("www-authenticate"), "Bearer")
        self.assertEqual(self.call("PUT", "/v1/routes/app/weights", {"weight": 5}, token=VIEWER_TOKEN).status, 403)
        self.assertEqual(self.call("GET", "/v1/whoami", token=VIEWER_TOKEN).json()["role"], "read")
        self.assertTrue(self.call("GET", "/v1/whoami").json()["can_change"])
        self.assertEqual(self.call("GET", "/v1/routes/nope").json(), {"error": "no route named 'nope'"})
        self.assertEqual(self.call("PUT", "/v1/routes/nope/weights", {"weight": 1}).status, 404)
        wrong = self.call("DELETE", "/v1/routes/app")
        self.assertEqual((wrong.status, wrong.headers.get("allow")), (405, "GET"))
        wrong = self.call("DELETE", "/v1/routes/app/ramp")
        self.assertEqual((wrong.status, wrong.headers.get("allow")), (405, "GET, POST"))
        self.assertEqual(self.admin.get("/v1/routes/app/bogus")[1], {"error": "no such endpoint"})

        # A write hold and its release.
        held = self.call("POST", "/v1/routes/app/writes/hold", {"drain": 1})
        self.assertEqual(held.status, 200)
        self.assertTrue(held.json()["writes"]["held"])
        self.assertTrue(self.call("GET", "/v1/routes/app").json()["writes"]["held"])
        self.assertEqual(self.call("POST", "/v1/routes/app/writes/hold", {"drain": "forever"}).status, 422)
        released = self.call("POST", "/v1/routes/app/writes/release", {"write_weight": 100, "close_tunnels": "source",
                                                                       "grace": "1s"})
        self.assertEqual(released.status, 200)
        self.assertIn("tunnels_closing", released.json())
        self.assertEqual(self.call("POST", "/v1/routes/app/writes/release").status, 409)

        # A ramp through its states, and the refusals on the way.
        self.assertEqual(self.call("GET", "/v1/routes/api/ramp").status, 404)
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/pause").status, 404)
        ramp = {"steps": [10, 50, 100], "interval": "1h", "apply_to": "both",
                "gates": {"max_error_rate": 0.5, "max_p99_ms": 5000, "min_requests": 1000},
                "webhook": {"url": "http://127.0.0.1:9/ok", "timeout": "1s"}}
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp", ramp).json()["state"], "running")
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp", ramp).status, 409)
        self.assertEqual(self.call("POST", "/v1/routes/pg/ramp", dict(ramp, apply_to="read")).status, 422)
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp", {"steps": [50, 10], "interval": "1m"}).status, 422)
        self.assertEqual(self.call("PUT", "/v1/routes/api/weights", {"weight": 1}).status, 409)
        self.assertEqual(self.call("GET", "/v1/routes/api/ramp").status, 200)
        routes = self.call("GET", "/v1/routes").json()["routes"]
        self.assertIsNotNone(next(r for r in routes if r["name"] == "api")["ramp"])
        self.assertIsNotNone(next(r for r in routes if r["name"] == "app")["mirror"])
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/pause", {"reason": "look first"}).json()["state"],
                         "paused")
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/pause").status, 409)
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/resume", {"bogus": 1}).status, 422)
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/resume").json()["state"], "running")
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/abort").json()["state"], "aborted")
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/abort").status, 409)
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/resume").status, 409)
        # A dry run whose first step waits for approval: approved once, refused the second time.
        rehearsal = {"steps": [{"weight": 10, "approve": True}, 100], "interval": "1h", "dry_run": True,
                     "hooks": {"post_step": "http://127.0.0.1:9/hook"}}
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp", rehearsal).json()["dry_run"], True)
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/abort").json()["state"], "aborted")
        approval = {"steps": [{"weight": 10, "approve": True}, 100], "interval": "1h"}
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp", approval).json()["state"], "awaiting_approval")
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/approve", {"reason": "looks fine"}).json()["state"],
                         "running")
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/approve").status, 409)
        self.assertEqual(self.call("POST", "/v1/routes/api/ramp/abort").json()["state"], "aborted")
        self.assertEqual(self.call("POST", "/v1/routes/pg/ramp", {"steps": [1, 100], "interval": "1h"}).status, 200)

        # Rollback (it aborts pg's ramp) and its refusals.
        self.assertEqual(self.call("POST", "/v1/routes/app/rollback", {"close_target_connections": True,
                                                                       "grace": "1s"}).status, 200)
        self.assertEqual(self.call("POST", "/v1/routes/pg/rollback").json()["ramp"]["state"], "aborted")
        self.assertEqual(self.call("POST", "/v1/routes/app/rollback", {"grace": "1s"}).status, 422)

        # Tenant segments and maintenance answers.
        segs = self.call("GET", "/v1/routes/api/segments").json()
        self.assertEqual(segs["segments"], [])
        put = self.call("PUT", "/v1/routes/api/segments", {
            "segments": [{"header": "X-Tenant", "values": ["acme"], "side": "target"},
                         {"client_cidrs": ["10.0.0.0/8"], "side": "source"}],
            "if_generation": segs["generation"], "reason": "first tenant"})
        self.assertEqual(put.status, 200, put)
        self.assertEqual(self.call("PUT", "/v1/routes/api/segments", {"segments": [{"side": "blue"}]}).status, 422)
        self.assertEqual(self.call("PUT", "/v1/routes/api/segments", {"segments": [], "if_generation": 0}).status, 409)
        self.assertEqual(self.call("PUT", "/v1/routes/api/maintenance", {"retry_after": "120s"}).status, 200)
        self.assertIsNotNone(self.call("GET", "/v1/routes/api").json()["maintenance"])
        self.assertEqual(self.call("PUT", "/v1/routes/api/maintenance", {"status": 42}).status, 422)
        self.assertEqual(self.call("DELETE", "/v1/routes/api/maintenance").status, 200)
        self.assertEqual(self.call("DELETE", "/v1/routes/api/maintenance").status, 409)
        self.assertEqual(self.call("PUT", "/v1/maintenance", {"body": "soon", "content_type": "text/plain"}).status, 200)
        self.assertEqual(self.call("PUT", "/v1/maintenance", {"if_generation": 1}).status, 422)
        self.assertEqual(self.call("DELETE", "/v1/maintenance", {"reason": "done"}).status, 200)

        # Statistics, shadow, audit.
        self.assertEqual(self.call("GET", "/v1/stats").status, 200)
        self.assertEqual(self.call("GET", "/v1/stats?window=5m&route=app").json()["window_s"], 300)
        self.assertEqual(self.call("GET", "/v1/stats?window=0").status, 400)
        self.assertEqual(self.call("GET", "/v1/stats?route=nope").status, 404)
        self.assertEqual(len(self.call("GET", "/v1/stats/series?route=app&window=1m&step=10s").json()["points"]), 6)
        self.assertEqual(self.call("GET", "/v1/stats/series?route=app&step=0").status, 400)
        self.assertEqual(self.call("GET", "/v1/stats/series?route=nope").status, 404)
        shadow = self.call("GET", "/v1/shadow").json()["routes"]
        app = next(r for r in shadow if r["route"] == "app")
        self.assertGreater(len(app["samples"]), 0, app)
        self.assertFalse(next(r for r in shadow if r["route"] == "api")["enabled"])
        self.assertEqual(self.call("GET", "/v1/shadow?route=nope").status, 404)
        audit = self.call("GET", "/v1/audit?limit=1000").json()["entries"]
        self.assertIn("ramp_pause", [e["action"] for e in audit])
        self.assertEqual(self.call("GET", "/v1/audit?limit=0").status, 400)

        # Operations: a reload that applies, one that is refused, a body it does not take.
        self.assertEqual(self.call("POST", "/v1/config/reload", {"reason": "same file"}).json()["result"], "success")
        good = self.cv.config_path.read_text()
        self.cv.config_path.write_text(good.replace('"tgt": {', '"tgt": {"bogus_key": 1, ', 1))
        try:
            refused = self.call("POST", "/v1/config/reload")
        finally:
            self.cv.config_path.write_text(good)
        self.assertEqual((refused.status, refused.json()["result"]), (422, "failure"), refused)
        self.assertEqual(self.call("POST", "/v1/config/reload", {"bogus": 1}).json()["error"],
                         "unknown field 'bogus'; the reload takes only a 'reason'")
        self.assertEqual(self.call("POST", "/v1/logs/reopen").json(), {"reopened": []})
        self.assertEqual(self.call("POST", "/v1/logs/reopen", token=False).status, 401)
        # Not a fleet node (test_fleet.py checks a fleet's answers against the same schemas).
        self.assertEqual(self.call("GET", "/v1/fleet").status, 404)

        # Every described operation was called at least once.
        self.assertEqual(set(), self.routed_operations() - self.called_operations(), "operations never called")

    def plain_get(self, path):
        conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()


if __name__ == "__main__":
    h.main()
