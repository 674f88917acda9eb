"""The fixture of the fleet tests (test_fleet.py, test_fleet_safety.py): a real 3-member etcd
(etcd_cluster.py) and three cutover nodes n1..n3 in front of the same real backends, started once
per class. A subclass gives node_config(name), the config of node `name` (cls.be and cls.etcd
exist by then). Debian's interpreter (python3-yaml, python3-jsonschema)."""
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness as h  # noqa: E402
import jsonschema  # noqa: E402
import yaml  # noqa: E402
from etcd_cluster import EtcdCluster  # noqa: E402

NODES = ("n1", "n2", "n3")


class FleetCase(unittest.TestCase):
    @classmethod
    def node_config(cls, name):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(members=3)
        cls.be = h.Backends()
        cls.nodes = {}
        for name in NODES:
            cls.start_node(name)

    @classmethod
    def start_node(cls, name):
        cls.nodes[name] = h.Cutover(cls.node_config(name), name=name).start()

    @classmethod
    def tearDownClass(cls):
        for cv in cls.nodes.values():
            cv.stop()
        cls.be.close()
        cls.etcd.close()

    def tearDown(self):
        for name, cv in self.nodes.items():
            self.assertTrue(cv.alive(), f"node {name} died; stderr:\n{cv.log_tail(30)}")

    def admin(self, name):
        return self.nodes[name].admin

    def assert_schema(self, body, name):
        """`body` is valid by components/schemas/NAME of the OpenAPI description the node serves."""
        if not hasattr(type(self), "spec"):
            type(self).spec = yaml.safe_load(self.admin("n1").request("GET", "/v1/openapi.yaml")[2])
        schema = {"$ref": f"#/components/schemas/{name}", "$schema": "https://json-schema.org/draft/2020-12/schema"}
        validator = jsonschema.Draft202012Validator(schema, resolver=jsonschema.RefResolver.from_schema(self.spec))
        self.assertEqual([], [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)], name)

    def kill_node(self, name):
        """SIGKILL, then the harness's cleanup of the dead process."""
        self.nodes[name].proc.kill()
        self.nodes[name].proc.wait(10)
        self.nodes[name].stop()
