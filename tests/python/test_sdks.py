"""The providers' official Python SDKs, unchanged, against `rolesync sandbox`.

Each SDK (PyPI `gcore`, `harness-open-api`, `hyperstack`; versions pinned in
requirements.txt) is configured as its README shows and driven as a user would: create,
list, get where the API has one, delete. A simulator that an official SDK cannot use
unchanged is not simulating its provider.

Needs the built binary: `ROLESYNC_BIN` (default target/debug/rolesync). scripts/test.sh runs
this after building it. A missing SDK is an error, never a skip.
"""

import json
import os
import pathlib
import queue
import signal
import subprocess
import tempfile
import threading
import unittest
import uuid

import gcore
import harness_open_api
import hyperstack
from harness_open_api.rest import ApiException

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("ROLESYNC_BIN", str(ROOT / "target" / "debug" / "rolesync"))
# Seconds the sandbox may take to start, and to stop after SIGTERM.
START_WITHIN = 120
STOP_WITHIN = 30


class Sandbox:
    """`rolesync sandbox --no-examples --port 0` in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="rolesync-sdk-")
        self.log = open(pathlib.Path(self.dir.name) / "sandbox.log", "w")
        self.process = subprocess.Popen(
            [BIN, "sandbox", "--dir", self.dir.name, "--no-examples", "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        lines = queue.Queue()

        def drain():
            # Read to the end so the sandbox never blocks on a full pipe.
            for line in self.process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, daemon=True).start()
        try:
            while True:
                line = lines.get(timeout=START_WITHIN)
                if line is None:
                    raise RuntimeError(f"rolesync sandbox exited before it was ready: {self.stderr()}")
                if "sandbox ready" in line:
                    break
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"rolesync sandbox not ready within {START_WITHIN}s: {self.stderr()}")
        with open(pathlib.Path(self.dir.name) / "sandbox.json") as f:
            self.providers = json.load(f)["providers"]

    def stderr(self):
        self.log.flush()
        return (pathlib.Path(self.dir.name) / "sandbox.log").read_text()[-2000:]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_WITHIN)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()
        self.log.close()
        self.dir.cleanup()


SANDBOX = None


def setUpModule():
    global SANDBOX
    SANDBOX = Sandbox()


def tearDownModule():
    if SANDBOX is not None:
        SANDBOX.stop()


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


class HarnessSdk(unittest.TestCase):
    """harness-open-api's v1 role-assignment APIs at account, organization and project scope."""

    @classmethod
    def setUpClass(cls):
        cls.cfg = SANDBOX.providers["harness"]
        cls.fx = cls.cfg["fixtures"]
        configuration = harness_open_api.Configuration()
        configuration.host = cls.cfg["endpoint"]
        configuration.api_key["x-api-key"] = cls.cfg["apiKey"]
        # Takes Harness-Account from the key's second field: fails on any other key shape.
        cls.client = harness_open_api.ApiClient(configuration)
        cls.account = harness_open_api.AccountRoleAssignmentsApi(cls.client)
        cls.orgs = harness_open_api.OrgRoleAssignmentsApi(cls.client)
        cls.projects = harness_open_api.ProjectRoleAssignmentsApi(cls.client)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def body(self, identifier, role, kind, who, level=None):
        return harness_open_api.RoleAssignment(
            identifier=identifier,
            resource_group="_all_resources_including_child_scopes",
            role=role,
            principal=harness_open_api.Principal(identifier=who, type=kind, scope_level=level),
            disabled=False,
        )

    def refused(self, call, status, code):
        with self.assertRaises(ApiException) as caught:
            call()
        self.assertEqual(caught.exception.status, status, caught.exception.body)
        self.assertEqual(json.loads(caught.exception.body)["code"], code)

    def test_the_key_names_the_sandbox_account(self):
        self.assertEqual(self.client.default_headers["Harness-Account"], self.cfg["accountId"])

    def test_account_scope_create_get_list_delete(self):
        user, group, sa = self.fx["users"][0], self.fx["userGroups"][0], self.fx["serviceAccounts"][0]
        made = {}
        for kind, who, level, stored in [
            ("USER", user, "account", None),  # Harness stores no level for a USER
            ("USER_GROUP", group, None, "account"),  # the assignment's scope
            ("SERVICE_ACCOUNT", sa, None, "account"),  # where the service account lives
        ]:
            ident = unique("sdk_" + kind.lower())
            created = self.account.create_account_scoped_role_assignments(
                self.body(ident, "_account_viewer", kind, who, level)
            )
            self.assertEqual(created.role_assignment.identifier, ident)
            self.assertEqual(created.role_assignment.principal.scope_level, stored, kind)
            made[ident] = created

        for ident in made:
            got = self.account.get_account_scoped_role_assignment(ident)
            self.assertEqual(got.role_assignment.identifier, ident)

        newest_first = [
            r.role_assignment.identifier
            for r in self.account.get_account_scoped_role_assignments(limit=100)
            if r.role_assignment.identifier in made
        ]
        self.assertEqual(newest_first, list(made)[::-1])

        by_identifier, page = [], 0
        while True:
            items, status, headers = self.account.get_account_scoped_role_assignments_with_http_info(
                page=page, limit=2, sort="identifier", order="ASC"
            )
            self.assertEqual(status, 200)
            self.assertIn("X-Total-Elements", headers)
            by_identifier += [r.role_assignment.identifier for r in items]
            if len(items) < 2:
                break
            page += 1
        self.assertEqual(by_identifier, sorted(by_identifier))
        self.assertTrue(set(made) <= set(by_identifier))

        first = next(iter(made))
        self.refused(
            lambda: self.account.create_account_scoped_role_assignments(
                self.body(unique("sdk_again"), "_account_viewer", "USER", user)
            ),
            400,
            "DUPLICATE_FIELD",
        )
        for ident in made:
            deleted = self.account.delete_account_scoped_role_assignment(ident)
            self.assertEqual(deleted.role_assignment.identifier, ident)
        self.refused(lambda: self.account.get_account_scoped_role_assignment(first), 400, "RESOURCE_NOT_FOUND_EXCEPTION")
        self.refused(lambda: self.account.delete_account_scoped_role_assignment(first), 400, "RESOURCE_NOT_FOUND_EXCEPTION")

    def test_organization_scope_create_get_list_delete(self):
        org = self.fx["orgs"][0]
        ident = unique("sdk_org_group")
        created = self.orgs.create_org_scoped_role_assignments(
            self.body(ident, "_organization_viewer", "USER_GROUP", self.fx["userGroups"][1]), org
        )
        self.assertEqual(created.role_assignment.principal.scope_level, "organization")
        self.assertEqual(self.orgs.get_org_scoped_role_assignment(ident, org).role_assignment.identifier, ident)
        listed = [r.role_assignment.identifier for r in self.orgs.get_org_scoped_role_assignments(org, limit=100)]
        self.assertIn(ident, listed)
        self.orgs.delete_org_scoped_role_assignment(ident, org)
        self.assertNotIn(
            ident, [r.role_assignment.identifier for r in self.orgs.get_org_scoped_role_assignments(org, limit=100)]
        )

    def test_project_scope_create_get_list_delete(self):
        ref = self.fx["projects"][0]
        org, project = ref["org"], ref["project"]
        ident = unique("sdk_project_user")
        self.projects.create_project_scoped_role_assignments(
            self.body(ident, "_project_viewer", "USER", self.fx["users"][1]), org, project
        )
        got = self.projects.get_project_scoped_role_assignment(ident, org, project)
        self.assertEqual(got.role_assignment.role, "_project_viewer")
        listed = self.projects.get_project_scoped_role_assignments(org, project, page=0, limit=10)
        self.assertIn(ident, [r.role_assignment.identifier for r in listed])
        self.projects.delete_project_scoped_role_assignment(ident, org, project)

    def test_refusals_are_harness_errors(self):
        user = self.fx["users"][2]
        self.refused(
            lambda: self.account.create_account_scoped_role_assignments(
                self.body(unique("sdk_bad_role"), "no_such_role", "USER", user)
            ),
            400,
            "INVALID_REQUEST",
        )
        self.refused(
            lambda: self.account.create_account_scoped_role_assignments(
                self.body(unique("sdk_below"), "_account_viewer", "USER_GROUP", self.fx["userGroups"][2], "project")
            ),
            400,
            "INVALID_REQUEST",
        )


class GcoreSdk(unittest.TestCase):
    """gcore's `client.cloud.users.role_assignments` (Gcore has no GET of one assignment)."""

    def test_create_list_update_delete(self):
        cfg = SANDBOX.providers["gcore"]
        fx = cfg["fixtures"]
        client = gcore.Gcore(api_key=cfg["apiKey"], base_url=cfg["endpoint"], max_retries=0)
        assignments = client.cloud.users.role_assignments
        user, project = fx["userIds"][-1], fx["projectIds"][0]
        created = assignments.create(role="User", user_id=user, client_id=fx["clientId"], project_id=project)
        listed = assignments.list(user_id=user).results
        self.assertEqual([(a.id, a.role, a.project_id) for a in listed], [(created.id, "User", project)])
        # The SDK's auto-pagination walks every page.
        self.assertIn(created.id, [a.id for a in assignments.list(limit=1)])
        assignments.update(
            created.id, role="ProjectAdministrator", user_id=user, client_id=fx["clientId"], project_id=project
        )
        self.assertEqual([a.role for a in assignments.list(user_id=user).results], ["ProjectAdministrator"])
        assignments.delete(created.id)
        self.assertEqual(assignments.list(user_id=user).results, [])
        with self.assertRaises(gcore.NotFoundError):
            assignments.delete(created.id)
        client.close()


class HyperstackSdk(unittest.TestCase):
    """hyperstack's RBAC role and member-role APIs."""

    def test_assign_list_get_remove(self):
        cfg = SANDBOX.providers["hyperstack"]
        fx = cfg["fixtures"]
        configuration = hyperstack.Configuration(host=cfg["endpoint"])
        configuration.api_key["apiKey"] = cfg["apiKey"]
        with hyperstack.ApiClient(configuration) as api_client:
            roles = hyperstack.RbacRoleApi(api_client)
            members = hyperstack.AssigningMemberRoleApi(api_client)
            orgs = hyperstack.OrganizationApi(api_client)
            role = fx["roles"][0]
            self.assertIn(role["id"], [r.id for r in roles.list_rbac_roles().roles])
            self.assertEqual(roles.retrieve_rbac_role_details(role["id"]).roles.name, role["name"])
            user = fx["userIds"][-1]
            members.assign_rbac_role_to_user(user, hyperstack.AssignRbacRolePayload(role_id=role["id"]))

            def roles_of(uid):
                users = orgs.retrieve_organization_information().organization.users
                return [r.name for u in users if u.id == uid for r in (u.rbac_roles or [])]

            self.assertEqual(roles_of(user), [role["name"]])
            members.remove_rbac_role_from_user(user)
            self.assertEqual(roles_of(user), [])


if __name__ == "__main__":
    unittest.main()
