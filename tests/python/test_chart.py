"""The Helm chart, checked with the real Helm engine and the Kubernetes schemas."""

import copy
import json
import pathlib
import shutil
import subprocess
import unittest

import helm_python as helm
import kubernetes_validate
import yaml

import chart

ROOT = chart.ROOT
# The newest Kubernetes whose schemas kubernetes-validate ships.
KUBE_VERSION = kubernetes_validate.latest_version()
# Kinds that belong to add-ons, not Kubernetes: checked field by field below instead.
ADDON_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

MATRIX = {
    "defaults": {},
    "replicas 2": {"replicas": 2},
    "ServiceMonitor on": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "NetworkPolicy on": {"networkPolicy": {"enabled": True}},
    "watch namespace set": {"watchNamespace": "team-a", "allowSecretNamespaces": ["shared-secrets"]},
    "no leader election": {"leaderElection": {"enabled": False}},
}


def validate(testcase, objects):
    for obj in objects:
        name = f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"
        if (obj["apiVersion"], obj["kind"]) in ADDON_KINDS:
            continue
        with testcase.subTest(object=name):
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def one(objects, kind):
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


class ChartTest(unittest.TestCase):
    def test_helm_lint_is_clean_for_every_values_set(self):
        for label, values in MATRIX.items():
            with self.subTest(values=label):
                report = helm.lint(str(chart.CHART), values, strict=True)
                problems = [m for m in report["messages"] if m["severity"] >= 2]
                self.assertEqual(report["errors"], [], report)
                self.assertEqual(problems, [], report)

    def test_every_rendered_object_is_valid_kubernetes(self):
        for label, values in MATRIX.items():
            with self.subTest(values=label):
                validate(self, chart.render(values))

    def test_the_pod_meets_the_restricted_pod_security_standard(self):
        pod = one(chart.render(), "Deployment")["spec"]["template"]["spec"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        (container,) = pod["containers"]
        sc = container["securityContext"]
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertIs(sc["readOnlyRootFilesystem"], True)
        self.assertIs(sc["privileged"], False)
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertNotIn("add", sc["capabilities"])
        self.assertEqual(container["livenessProbe"]["httpGet"]["path"], "/healthz")
        self.assertEqual(container["readinessProbe"]["httpGet"]["path"], "/readyz")
        self.assertIn("requests", container["resources"])
        self.assertIn("limits", container["resources"])
        env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
        self.assertEqual(env, {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"})

    def test_the_operator_gets_flags_that_rolesync_run_accepts(self):
        args = one(chart.render(MATRIX["watch namespace set"]), "Deployment")["spec"]["template"]["spec"][
            "containers"
        ][0]["args"]
        self.assertEqual(args[0], "run")
        self.assertIn("--namespace=team-a", args)
        self.assertIn("--allow-secret-namespace=shared-secrets", args)
        self.assertIn("--leader-election=true", args)
        binary = ROOT / "target" / "debug" / "rolesync"
        if binary.exists():
            help_text = subprocess.run([binary, "run", "--help"], capture_output=True, text=True, check=True).stdout
            for arg in args[1:]:
                self.assertIn(arg.split("=")[0], help_text)

    def test_values_switch_the_optional_objects(self):
        defaults = chart.render()
        for kind in ["PodDisruptionBudget", "ServiceMonitor", "NetworkPolicy"]:
            self.assertEqual(by_kind(defaults, kind), [], kind)
        self.assertEqual(one(defaults, "Deployment")["spec"]["replicas"], 1)

        two = chart.render(MATRIX["replicas 2"])
        self.assertEqual(one(two, "Deployment")["spec"]["replicas"], 2)
        self.assertEqual(one(two, "PodDisruptionBudget")["spec"]["minAvailable"], 1)

        monitor = one(chart.render(MATRIX["ServiceMonitor on"]), "ServiceMonitor")
        service = one(defaults, "Service")
        self.assertEqual(monitor["metadata"]["labels"]["release"], "prometheus")
        self.assertEqual(monitor["spec"]["selector"]["matchLabels"].items() - service["metadata"]["labels"].items(), set())
        self.assertEqual(monitor["spec"]["endpoints"][0]["port"], service["spec"]["ports"][0]["name"])

        policy = one(chart.render(MATRIX["NetworkPolicy on"]), "NetworkPolicy")
        self.assertEqual(policy["spec"]["policyTypes"], ["Ingress"])
        self.assertEqual(policy["spec"]["ingress"][0]["ports"][0]["port"], "metrics")

        watched = chart.render(MATRIX["watch namespace set"])
        roles = {(r["metadata"]["namespace"], r["metadata"]["name"]) for r in by_kind(watched, "Role")}
        self.assertIn(("team-a", "rolesync"), roles)
        cluster_rules = one(watched, "ClusterRole")["rules"]
        self.assertNotIn("roleassignments", [r for rule in cluster_rules for r in rule["resources"]])

        no_leader = chart.render(MATRIX["no leader election"])
        self.assertNotIn("leases", json.dumps(no_leader))

    def test_rbac_has_no_wildcards_and_secrets_are_read_only(self):
        for label, values in MATRIX.items():
            for role in [o for o in chart.render(values) if o["kind"] in ("Role", "ClusterRole")]:
                for rule in role["rules"]:
                    with self.subTest(values=label, role=role["metadata"]["name"], rule=rule):
                        for key in ("apiGroups", "resources", "verbs"):
                            self.assertNotIn("*", rule[key])
                        if "secrets" in rule["resources"]:
                            self.assertEqual(sorted(rule["verbs"]), ["get", "list", "watch"])

    def test_the_crds_are_the_ones_in_crds(self):
        source = (ROOT / "crds" / "rolesync.dev.yaml").read_bytes()
        self.assertEqual((chart.CHART / "crds" / "rolesync.dev.yaml").read_bytes(), source)
        self.assertEqual((ROOT / "deploy" / "crds" / "rolesync.dev.yaml").read_bytes(), source)
        with helm.Chart.load(str(chart.CHART)) as loaded:
            self.assertEqual([c["name"] for c in loaded.crds], ["crds/rolesync.dev.yaml"])

    def test_notes_tell_the_user_what_to_do_next(self):
        notes = chart.render_manifests(MATRIX["watch namespace set"], namespace="ops")["rolesync/templates/NOTES.txt"]
        self.assertIn("kubectl -n ops rollout status deployment/rolesync", notes)
        self.assertIn("watching namespace team-a", notes)
        self.assertIn("create secret generic", notes)
        self.assertIn("ClusterProviderConfig", notes)


class ValuesSchemaTest(unittest.TestCase):
    def test_defaults_pass(self):
        with helm.Chart.load(str(chart.CHART)) as loaded:
            loaded.validate_schema({})

    def test_wrong_types_and_unknown_keys_are_rejected(self):
        bad = {
            "replicas": "two",
            "leaderElection": {"enabled": "yes"},
            "logFormat": "xml",
            "watchNamespace": "Not_A_Namespace",
            "concurrency": 0,
            "replica": 2,
        }
        for key, value in bad.items():
            with self.subTest(key=key):
                with helm.Chart.load(str(chart.CHART)) as loaded:
                    with self.assertRaises(helm.HelmError) as caught:
                        loaded.validate_schema({key: value})
                    self.assertIn(key, str(caught.exception))
                with self.assertRaises(helm.HelmError):
                    chart.render({key: value})

    def test_the_schema_covers_every_value(self):
        schema = json.loads((chart.CHART / "values.schema.json").read_text())
        values = yaml.safe_load((chart.CHART / "values.yaml").read_text())

        def walk(value, node, path):
            self.assertIn("type", node, f"{path} has no type in values.schema.json")
            if isinstance(value, dict) and "properties" in node:
                for key, child in value.items():
                    self.assertIn(key, node["properties"], f"{path}.{key} is missing from values.schema.json")
                    walk(child, node["properties"][key], f"{path}.{key}")
                for key in node["properties"]:
                    self.assertIn(key, value, f"values.schema.json has {path}.{key}, values.yaml does not")

        walk(values, schema, "")


class DocsAndImageTest(unittest.TestCase):
    def test_the_readme_documents_every_crd_field(self):
        readme = (ROOT / "README.md").read_text()

        def paths(node, prefix):
            for key, child in node.get("properties", {}).items():
                yield f"{prefix}.{key}"
                yield from paths(child, f"{prefix}.{key}")

        for crd in yaml.safe_load_all((ROOT / "crds" / "rolesync.dev.yaml").read_text()):
            if not crd:
                continue
            schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            for part in ("spec", "status"):
                for path in paths(schema.get(part, {}), part):
                    with self.subTest(kind=crd["spec"]["names"]["kind"], field=path):
                        self.assertIn(f"`{path}`", readme)

    def test_the_image_is_static_minimal_and_runs_as_the_charts_user(self):
        stages = [l.split()[1] for l in (ROOT / "Dockerfile").read_text().splitlines() if l.startswith("FROM ")]
        self.assertGreaterEqual(len(stages), 2, "multi-stage build")
        self.assertTrue(stages[-1] == "scratch" or "distroless" in stages[-1], stages[-1])
        dockerfile = (ROOT / "Dockerfile").read_text()
        self.assertIn("unknown-linux-musl", dockerfile)
        user = [l.split()[1] for l in dockerfile.splitlines() if l.startswith("USER ")][-1]
        pod = one(chart.render(), "Deployment")["spec"]["template"]["spec"]["securityContext"]
        self.assertEqual(user, f"{pod['runAsUser']}:{pod['runAsGroup']}")


@unittest.skipIf(shutil.which("kubectl") is None, "kubectl is not on PATH")
class KustomizeTest(unittest.TestCase):
    def build(self):
        out = subprocess.run(["kubectl", "kustomize", str(ROOT / "deploy")], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        return [o for o in yaml.safe_load_all(out.stdout) if o]

    def test_every_object_is_valid_kubernetes(self):
        validate(self, self.build())

    def test_deploy_equals_the_chart_with_default_values(self):
        def key(o):
            return (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])

        def normal(objects):
            out = {}
            for o in objects:
                o = copy.deepcopy(o)
                labels = o["metadata"].get("labels", {})
                # Only Helm's bookkeeping labels may differ.
                labels.pop("helm.sh/chart", None)
                labels.pop("app.kubernetes.io/managed-by", None)
                out[key(o)] = o
            return out

        deploy = normal(self.build())
        namespace = deploy.pop(("Namespace", "", chart.NAMESPACE))
        self.assertEqual(namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted")
        rendered = normal(chart.render())
        self.assertEqual(sorted(deploy), sorted(rendered))
        for k in rendered:
            with self.subTest(object=k):
                self.assertEqual(deploy[k], rendered[k])


if __name__ == "__main__":
    unittest.main()
