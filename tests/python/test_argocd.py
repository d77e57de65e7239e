"""Argo CD integration: the RoleAssignment health check runs under Lua 5.1 (the Lua Argo CD
embeds) against its health_test.yaml cases, the way Argo CD's own test runner does."""

import json
import pathlib
import shutil
import subprocess
import tempfile
import unittest

import kubernetes_validate
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "deploy" / "argocd"
CHECK = ARGOCD / "rolesync.dev" / "RoleAssignment"
LUA = shutil.which("lua5.1")


def lua_literal(value):
    """A Lua table constructor for a JSON-like value (what Argo CD hands the script as obj)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid Lua escapes for this data
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    return "{" + ", ".join(f"[{json.dumps(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"


def run_health(script, obj):
    """Runs the health script with global obj set and returns (status, message)."""
    harness = (
        f"obj = {lua_literal(obj)}\n"
        f"local check = assert(loadfile({json.dumps(str(script))}))\n"
        "local hs = check()\n"
        'io.write(hs.status, "\\n", hs.message or "")\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
        f.write(harness)
        f.flush()
        out = subprocess.run([LUA, f.name], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"health.lua failed: {out.stderr}")
    status, _, message = out.stdout.partition("\n")
    return status, message


@unittest.skipIf(LUA is None, "lua5.1 is not on PATH (scripts/test.sh installs it)")
class HealthCheckTest(unittest.TestCase):
    def test_every_case_in_health_test_yaml(self):
        cases = yaml.safe_load((CHECK / "health_test.yaml").read_text())["tests"]
        statuses = {c["healthStatus"]["status"] for c in cases}
        self.assertEqual(statuses, {"Healthy", "Progressing", "Degraded", "Suspended"})
        for case in cases:
            with self.subTest(input=case["inputPath"]):
                obj = yaml.safe_load((CHECK / case["inputPath"]).read_text())
                want = case["healthStatus"]
                self.assertEqual(run_health(CHECK / "health.lua", obj), (want["status"], want["message"]))

    def test_every_fixture_is_covered(self):
        cases = yaml.safe_load((CHECK / "health_test.yaml").read_text())["tests"]
        used = {c["inputPath"] for c in cases}
        present = {f"testdata/{p.name}" for p in (CHECK / "testdata").glob("*.yaml")}
        self.assertEqual(used, present)

    def test_a_regression_in_the_script_is_caught(self):
        # The harness must fail on a wrong answer, not only on a crash.
        broken = (CHECK / "health.lua").read_text().replace('hs.status = "Degraded"', 'hs.status = "Healthy"')
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
            f.write(broken)
            f.flush()
            obj = yaml.safe_load((CHECK / "testdata" / "unauthorized.yaml").read_text())
            self.assertEqual(run_health(f.name, obj)[0], "Healthy")

    def test_the_argocd_cm_snippet_carries_the_script_verbatim(self):
        cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
        kubernetes_validate.validate(cm, kubernetes_validate.latest_version(), strict=True)
        script = cm["data"]["resource.customizations.health.rolesync.dev_RoleAssignment"]
        self.assertEqual(script, (CHECK / "health.lua").read_text())


class ApplicationsTest(unittest.TestCase):
    def test_the_operator_syncs_before_the_role_assignments(self):
        apps = [a for a in yaml.safe_load_all((ARGOCD / "applications.yaml").read_text()) if a]
        self.assertEqual([a["kind"] for a in apps], ["Application", "Application"])
        waves = {a["metadata"]["name"]: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for a in apps}
        self.assertLess(waves["rolesync"], waves["rolesync-assignments"])
        operator = next(a for a in apps if a["metadata"]["name"] == "rolesync")
        self.assertEqual(operator["spec"]["source"]["path"], "charts/rolesync")
        self.assertTrue((ROOT / operator["spec"]["source"]["path"] / "Chart.yaml").exists())
        assignments = next(a for a in apps if a["metadata"]["name"] == "rolesync-assignments")
        self.assertIn("SkipDryRunOnMissingResource=true", assignments["spec"]["syncPolicy"]["syncOptions"])


if __name__ == "__main__":
    unittest.main()
