#!/usr/bin/env python3
"""The fleet compose demo (docker/compose.fleet.yaml) without running it (CI has no container
engine): the file parses, its three etcd members form one cluster, each cutover node mounts its
own config, and each config passes `cutover --check` naming the etcd members and a node name of
its own."""
import pathlib
import re
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness as h  # noqa: E402
import yaml  # noqa: E402

DOCKER = pathlib.Path(__file__).resolve().parents[2] / "docker"


class FleetComposeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.compose = yaml.safe_load((DOCKER / "compose.fleet.yaml").read_text())
        cls.services = cls.compose["services"]

    def test_three_etcd_members_form_one_cluster(self):
        members = {name: s for name, s in self.services.items() if name.startswith("etcd-")}
        self.assertEqual(sorted(members), ["etcd-1", "etcd-2", "etcd-3"])
        clusters = {s["environment"]["ETCD_INITIAL_CLUSTER"] for s in members.values()}
        self.assertEqual(len(clusters), 1)
        peers = dict(p.split("=", 1) for p in clusters.pop().split(","))
        for name, s in members.items():
            env = s["environment"]
            self.assertEqual(env["ETCD_NAME"], name)
            self.assertEqual(peers[name], env["ETCD_INITIAL_ADVERTISE_PEER_URLS"])
            self.assertEqual(env["ETCD_ADVERTISE_CLIENT_URLS"], f"http://{name}:2379")
        self.assertTrue((DOCKER / members["etcd-1"]["build"]["context"] / "Dockerfile").is_file())

    def test_each_node_config_passes_check(self):
        edges = {name: s for name, s in self.services.items() if name.startswith("edge-")}
        self.assertEqual(sorted(edges), ["edge-1", "edge-2"])
        nodes = set()
        for name, s in edges.items():
            mount = next(v for v in s["volumes"] if v.endswith(":/etc/cutover/cutover.yaml:ro"))
            path = DOCKER / mount.split(":")[0]
            text = path.read_text()
            cfg = yaml.safe_load(text)
            nodes.add(cfg["fleet"]["node"])
            self.assertEqual(cfg["fleet"]["etcd"]["endpoints"],
                             [f"http://etcd-{i}:2379" for i in (1, 2, 3)], name)
            for dep in ("source", "target", "etcd-1", "etcd-2", "etcd-3"):
                self.assertIn(dep, s["depends_on"], name)
            # The container's paths and compose service names exist only in the demo: a temporary
            # directory and the loopback stand in for them.
            with tempfile.TemporaryDirectory() as d:
                (pathlib.Path(d) / "tokens.txt").write_text("operator:secret\n")
                local = text.replace("/var/lib/cutover", d)
                local = re.sub(r'"(source|target):8000"', '"127.0.0.1:8000"', local)
                rc, out, _ = h.run_check(local, f"{name}.yaml")
            self.assertEqual(rc, 0, f"{path}: cutover --check:\n{out}")
        self.assertEqual(nodes, {"edge-1", "edge-2"}, "each node needs a name of its own")


if __name__ == "__main__":
    h.main()
