"""The Kubernetes manifests (deploy/kubernetes/): render, validate, and read what they say.

No cluster can run on the test machines, so this renders every kustomization with
`kubectl kustomize`, validates each object against the pinned Kubernetes versions' OpenAPI
schemas in strict mode (kubernetes-validate: unknown fields are errors), and checks what the
deployment promises: probes, non-root, limits, disruption budgets, network policies, headless
Services for the proxy's replicas, and Secrets that come only from git-ignored files.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support import REPO

KUBE = REPO / "deploy" / "kubernetes"
# The oldest release still maintained by the big providers, and the newest schema we have.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
KUSTOMIZATIONS = sorted(p.parent.relative_to(KUBE) for p in KUBE.rglob("kustomization.yaml"))
# What kubectl 1.20's kustomize (v2.0.3, Debian bookworm's kubernetes-client, the fallback
# `make system-deps` installs) understands; newer fields would not render there.
KUSTOMIZE_V2_FIELDS = {
    "apiVersion", "kind", "namespace", "resources", "bases", "patchesStrategicMerge",
    "secretGenerator", "generatorOptions", "images",
}  # fmt: skip
OUR_IMAGES = {"proxy", "auth", "content"}
# env vars that carry a secret: never a literal value in a manifest
SECRET_ENV = ("SECRET", "TOKEN", "PASSWORD", "DATABASE_URL")

Object = dict[str, Any]


def ids(value: object) -> str:
    return str(value)


@pytest.fixture(scope="module")
def kubectl() -> str:
    exe = shutil.which("kubectl")
    if exe is None:
        pytest.fail("kubectl is missing: `make system-deps` installs kubernetes-client")
    return exe


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/kubernetes with each *.env.example as the git-ignored *.env it shows."""
    copy = tmp_path_factory.mktemp("kubernetes") / "kubernetes"
    shutil.copytree(KUBE, copy, ignore=shutil.ignore_patterns("*.env"))
    for example in copy.rglob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    return copy


@pytest.fixture(scope="module")
def rendered(kubectl: str, tree: Path) -> dict[Path, list[Object]]:
    out = {}
    for directory in KUSTOMIZATIONS:
        result = subprocess.run(
            [kubectl, "kustomize", str(tree / directory)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{directory}: {result.stderr}"
        out[directory] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def find(objects: list[Object], kind: str, name: str | None = None) -> list[Object]:
    return [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]


def one(objects: list[Object], kind: str, name: str) -> Object:
    (found,) = find(objects, kind, name)
    return found


def workloads(objects: list[Object]) -> Iterator[Object]:
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet"):
            yield o


def containers(workload: Object) -> list[Object]:
    return workload["spec"]["template"]["spec"]["containers"]


def env(container: Object) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def component(o: Object) -> str:
    return o["metadata"]["labels"]["app.kubernetes.io/component"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


# --- rendering and validation -----------------------------------------------------------


def test_there_is_a_base_and_two_overlays():
    assert [str(k) for k in KUSTOMIZATIONS] == ["base", "overlays/dev", "overlays/ha"]


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_kustomization_uses_only_what_old_kubectl_renders(directory):
    spec = yaml.safe_load((KUBE / directory / "kustomization.yaml").read_text())
    assert set(spec) <= KUSTOMIZE_V2_FIELDS, set(spec) - KUSTOMIZE_V2_FIELDS
    for resource in spec.get("resources", []):
        assert (KUBE / directory / resource).is_file(), f"v2 lists only files: {resource}"
    for generator in spec.get("secretGenerator", []):
        assert set(generator) <= {"name", "env", "type"}, generator


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_every_object_validates_strictly(rendered, directory, version):
    assert rendered[directory]
    for o in rendered[directory]:
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{directory}: {o['kind']}/{o['metadata']['name']}: {exc.message}")


def test_validation_is_strict():
    # An unknown field must fail, or the test above would prove little.
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {}}
    kubernetes_validate.validate(service, KUBERNETES_VERSIONS[0], strict=True)
    service["spec"]["clusterIp"] = "None"  # the real field is clusterIP
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSIONS[0], strict=True)


# --- every workload ---------------------------------------------------------------------


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_workloads_are_probed_limited_and_unprivileged(rendered, directory):
    for w in workloads(rendered[directory]):
        name = f"{directory}: {w['metadata']['name']}"
        pod = w["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod.get("automountServiceAccountToken") is False, name
        for c in containers(w):
            security = c["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for kind in ("requests", "limits"):
                assert set(c["resources"][kind]) == {"cpu", "memory"}, name
            assert "readinessProbe" in c and "livenessProbe" in c, name
            if component(w) in OUR_IMAGES:
                port = "admin" if component(w) == "proxy" else "http"
                assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
                assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_every_workload_has_a_disruption_budget(rendered, directory):
    budgets = find(rendered[directory], "PodDisruptionBudget")
    for w in workloads(rendered[directory]):
        labels = w["spec"]["template"]["metadata"]["labels"]
        assert any(selects(b["spec"]["selector"], labels) for b in budgets), w["metadata"]


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_prometheus_scrapes_each_service_on_its_metrics_port(rendered, directory):
    expected = {"proxy": "10081", "auth": "8001", "content": "8002"}
    for w in workloads(rendered[directory]):
        if component(w) not in OUR_IMAGES:
            continue
        annotations = w["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/metrics"
        assert annotations["prometheus.io/port"] == expected[component(w)]
        ports = {str(p["containerPort"]) for c in containers(w) for p in c["ports"]}
        assert annotations["prometheus.io/port"] in ports


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_each_image_runs_the_non_root_user_of_the_dockerfile(rendered, directory):
    for w in workloads(rendered[directory]):
        if component(w) in OUR_IMAGES:
            assert w["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001
            (c,) = containers(w)
            assert f"gatehouse-{component(w)}:" in c["image"]


# --- wiring -----------------------------------------------------------------------------


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_the_proxy_sees_every_pod_through_headless_services(rendered, directory):
    objects = rendered[directory]
    proxy_env = env(containers(one(objects, "Deployment", "proxy"))[0])
    for upstream, port in (("auth", 8001), ("content", 8002)):
        host, _, value = proxy_env[f"{upstream.upper()}_UPSTREAMS"].partition(":")
        service = one(objects, "Service", host)
        assert service["spec"]["clusterIP"] == "None", f"{host} must be headless"
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == upstream
        assert [p["port"] for p in service["spec"]["ports"]] == [int(value)] == [port]


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_secret_references_resolve(rendered, directory):
    objects = rendered[directory]
    secrets = {s["metadata"]["name"]: s for s in find(objects, "Secret")}
    for w in workloads(objects):
        for c in containers(w):
            for value in env(c).values():
                if isinstance(value, dict) and "secretKeyRef" in value:
                    ref = value["secretKeyRef"]
                    assert ref["name"] in secrets, f"{w['metadata']['name']}: {ref}"
                    assert ref["key"] in secrets[ref["name"]]["data"], ref


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_no_literal_secrets(rendered, directory):
    for w in workloads(rendered[directory]):
        for c in containers(w):
            for name, value in env(c).items():
                if any(word in name for word in SECRET_ENV) and isinstance(value, str):
                    # The only literal allowed: the SQLite path, which holds no password.
                    assert value.startswith("sqlite:"), f"{name} should come from a Secret"


def test_committed_files_hold_no_secret_objects():
    # Secrets come from a secretGenerator reading git-ignored *.env files.
    for path in KUBE.rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert not doc or doc.get("kind") != "Secret", path
    for example in KUBE.rglob("*.env.example"):
        real = example.with_suffix("")
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(real.relative_to(REPO))], cwd=REPO, timeout=30
        )
        assert ignored.returncode == 0, f"{real} must be git-ignored"
        for line in example.read_text().splitlines():
            assert "replace" in line.partition("=")[2], f"{example}: placeholder values only"


# --- network policies -------------------------------------------------------------------


def ingress_rules(objects: list[Object], target: str) -> list[Object]:
    """The ingress rules of the policies that select the pods of one component."""
    labels = {"app.kubernetes.io/name": "gatehouse", "app.kubernetes.io/component": target}
    rules = []
    for policy in find(objects, "NetworkPolicy"):
        if policy["spec"]["podSelector"] and selects(policy["spec"]["podSelector"], labels):
            rules += policy["spec"]["ingress"]
    return rules


def sources(rule: Object) -> list[str]:
    """Who a rule admits: 'anyone', 'pods:<component>', 'namespace:<name>'."""
    if "from" not in rule:
        return ["anyone"]
    out = []
    for peer in rule["from"]:
        assert set(peer) in ({"podSelector"}, {"namespaceSelector"}), peer
        if "podSelector" in peer:
            out.append("pods:" + peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"])
        else:
            out.append(
                "namespace:"
                + peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            )
    return out


def admitted(objects: list[Object], target: str) -> set[tuple[str, int]]:
    return {
        (source, port["port"])
        for rule in ingress_rules(objects, target)
        for source in sources(rule)
        for port in rule["ports"]
    }


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=ids)
def test_network_policies(rendered, directory):
    objects = rendered[directory]
    deny = one(objects, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert admitted(objects, "proxy") == {("anyone", 10080), ("namespace:monitoring", 10081)}
    for upstream, port in (("auth", 8001), ("content", 8002)):
        assert admitted(objects, upstream) == {("pods:proxy", port), ("namespace:monitoring", port)}
    if find(objects, "StatefulSet", "postgres"):
        assert admitted(objects, "postgres") == {("pods:auth", 5432)}


# --- what each variant runs -------------------------------------------------------------


def replicas(objects: list[Object]) -> dict[str, int]:
    return {w["metadata"]["name"]: w["spec"]["replicas"] for w in workloads(objects)}


def autoscaled(objects: list[Object]) -> dict[str, tuple[int, int]]:
    out = {}
    for hpa in find(objects, "HorizontalPodAutoscaler"):
        spec = hpa["spec"]
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
        assert find(objects, "Deployment", spec["scaleTargetRef"]["name"])
        assert [m["resource"]["name"] for m in spec["metrics"]] == ["cpu"]
        out[spec["scaleTargetRef"]["name"]] = (spec["minReplicas"], spec["maxReplicas"])
    return out


def test_base_runs_auth_once_on_sqlite(rendered):
    objects = rendered[Path("base")]
    assert replicas(objects) == {"proxy": 2, "content": 3, "auth": 1}
    assert autoscaled(objects) == {"proxy": (2, 6), "content": (3, 10)}
    assert one(objects, "Service", "proxy")["spec"]["type"] == "ClusterIP"
    auth = one(objects, "Deployment", "auth")
    assert auth["spec"]["strategy"]["type"] == "Recreate"  # never two pods on the volume
    assert env(containers(auth)[0])["AUTH_DATABASE_URL"] == "sqlite:////data/auth.db"
    volumes = {v["name"]: v for v in auth["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert one(objects, "PersistentVolumeClaim", claim)
    assert {"name": "data", "mountPath": "/data"} in containers(auth)[0]["volumeMounts"]


def test_ha_runs_auth_twice_on_postgresql(rendered):
    objects = rendered[Path("overlays/ha")]
    assert replicas(objects) == {"proxy": 2, "content": 3, "auth": 2, "postgres": 1}
    assert autoscaled(objects) == {"proxy": (2, 6), "content": (3, 10), "auth": (2, 4)}
    auth = one(objects, "Deployment", "auth")
    assert auth["spec"]["strategy"]["type"] == "RollingUpdate"
    database = [e for e in containers(auth)[0]["env"] if e["name"] == "AUTH_DATABASE_URL"]
    assert database == [
        {
            "name": "AUTH_DATABASE_URL",
            "valueFrom": {
                "secretKeyRef": {"name": "gatehouse-postgres", "key": "AUTH_DATABASE_URL"}
            },
        }
    ]
    assert not find(objects, "PersistentVolumeClaim"), "no SQLite volume"
    assert "persistentVolumeClaim" not in str(auth)
    postgres = one(objects, "StatefulSet", "postgres")
    assert postgres["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert one(objects, "Service", postgres["spec"]["serviceName"])


def test_dev_runs_one_of_each_on_a_node_port(rendered):
    objects = rendered[Path("overlays/dev")]
    assert replicas(objects) == {"proxy": 1, "content": 1, "auth": 1}
    assert autoscaled(objects) == {"proxy": (1, 1), "content": (1, 1)}
    service = one(objects, "Service", "proxy")["spec"]
    assert service["type"] == "NodePort"
    assert [p["nodePort"] for p in service["ports"]] == [30080]
