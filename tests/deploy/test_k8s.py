"""deploy/k8s: every rendered overlay is valid Kubernetes and says what the code expects.

Overlays are rendered by the small renderer in ``kustomize.py`` (no kustomize binary here),
validated against the Kubernetes JSON schemas shipped by ``kubernetes-validate`` (strict: an
unknown field is an error), and KEDA's custom resources, which those schemas do not cover,
are checked field by field here.
"""

from __future__ import annotations

import ast
import base64
import re
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from notion_batch.common.messaging.topology import Topology
from notion_batch.common.ops_server import DEFAULT_CHECK_TIMEOUT_SECONDS
from notion_batch.worker.settings import DEFAULT_WORKER_DRAIN_SECONDS as DRAIN_SECONDS
from tests.deploy import kustomize, support
from tests.deploy.conftest import K8S, OVERLAYS

Resource = kustomize.Resource

#: Oldest Kubernetes we support, and the newest the schemas know.
K8S_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())
#: Custom resources: no schema in kubernetes-validate, checked below instead.
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}
SECRET = "notion-batch-secrets"
#: What production's Secret holds (created outside git); values only to build settings here.
PROD_SECRET_PLACEHOLDERS = {
    "NOTION_TOKEN": "secret_placeholder_token_0123456789",
    "DATABASE_URL": "postgresql://notion_batch@db.example:5432/notion_batch",
    "AMQP_URL": "amqps://notion_batch:x@mq.example:5671/",
    "API_KEYS": "ops:read+write:sha256:" + "0" * 64,
}
#: Services with a Deployment, by command; the emulator is dev only.
SERVICES = {
    "notion-batch-api": "api",
    "notion-batch-scheduler": "scheduler",
    "notion-batch-worker": "worker",
    "notion-batch-emulator": "emulator",
}


def workloads(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if kustomize.pod_spec(r) is not None]


def our_containers(resources: list[Resource]) -> list[tuple[Resource, dict[str, Any]]]:
    scripts = support.console_scripts()
    found = []
    for resource in workloads(resources):
        spec = kustomize.pod_spec(resource)
        assert spec is not None
        for container in spec["containers"]:
            assert container["command"][0] in scripts, (
                f"{kustomize.key(resource)}: {container['command']} is not one of our commands"
            )
            found.append((resource, container))
    return found


def container_env(container: dict[str, Any], resources: list[Resource]) -> dict[str, str]:
    """The container's environment as the kubelet would build it (the image's ENV first)."""
    env = dict(support.dockerfile_env(support.dockerfile_stages()[-1]))
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            config_map = kustomize.find(resources, "ConfigMap", source["configMapRef"]["name"])
            env.update(config_map["data"])
        else:
            raise AssertionError(f"unexpected envFrom {source}: secrets go in one key at a time")
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == SECRET, item
        if ref.get("optional") and not secret_has(resources, ref["key"]):
            continue  # as the kubelet does: the variable is left unset
        env[item["name"]] = secret_value(resources, ref["key"])
    return env


def secret_has(resources: list[Resource], key: str) -> bool:
    try:
        secret = kustomize.find(resources, "Secret", SECRET)
    except KeyError:
        return key in PROD_SECRET_PLACEHOLDERS
    return key in secret["data"]


def secret_value(resources: list[Resource], key: str) -> str:
    try:
        secret = kustomize.find(resources, "Secret", SECRET)
    except KeyError:
        assert key in PROD_SECRET_PLACEHOLDERS, f"{key} is not a documented key of {SECRET}"
        return PROD_SECRET_PLACEHOLDERS[key]
    assert key in secret["data"], f"{SECRET} has no key {key}"
    return base64.b64decode(secret["data"][key]).decode()


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise AssertionError(f"container {container['name']} declares no port named {port!r}")


def autoscaler_targets(resources: list[Resource]) -> list[str]:
    return [
        r["spec"]["scaleTargetRef"]["name"]
        for r in resources
        if r["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")
    ]


# -- rendering and schemas ---------------------------------------------------------------------


def test_the_base_renders_on_its_own() -> None:
    base = kustomize.build(K8S / "base")
    kinds = {r["kind"] for r in base}
    assert {"Deployment", "Job", "ConfigMap", "Service", "Ingress", "PodDisruptionBudget"} <= kinds


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_validates_against_the_kubernetes_schemas(
    rendered: dict[str, list[Resource]], overlay: str, version: str
) -> None:
    errors = []
    for resource in rendered[overlay]:
        if (resource["apiVersion"], resource["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{kustomize.key(resource)} at {path}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_a_schema_violation_is_caught() -> None:
    """The validation above is not vacuous: a misspelt field fails it."""
    deployment = kustomize.find(kustomize.build(K8S / "base"), "Deployment", "notion-batch-api")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_keda_kinds_lack_a_schema(rendered: dict[str, list[Resource]], overlay: str) -> None:
    for resource in rendered[overlay]:
        kind = (resource["apiVersion"], resource["kind"])
        if kind in CUSTOM_KINDS:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(resource, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaces_and_selectors(rendered: dict[str, list[Resource]], overlay: str) -> None:
    namespaces = {r["metadata"].get("namespace") for r in rendered[overlay]}
    assert len(namespaces) == 1
    assert None not in namespaces
    for resource in workloads(rendered[overlay]):
        if resource["kind"] == "Job":
            continue
        selector = resource["spec"]["selector"]["matchLabels"]
        labels = resource["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), kustomize.key(resource)


# -- the product's shape -----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_image_runs_every_service_by_command(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    containers = our_containers(rendered[overlay])
    images = {c["image"] for _, c in containers}
    assert len(images) == 1, images
    (image,) = images
    if overlay.startswith("prod"):
        assert re.fullmatch(r"[\w.-]+(/[\w.-]+)+:\d+\.\d+\.\d+", image), image
    assert not image.endswith(":latest")
    commands = {tuple(c["command"]) for _, c in containers}
    expected = {
        ("notion-batch-api",),
        ("notion-batch-scheduler",),
        ("notion-batch-worker",),
        ("notion-batch", "migrate"),
    }
    if overlay == "dev":
        expected.add(("notion-batch-emulator", "--demo"))
    assert commands == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down(rendered: dict[str, list[Resource]], overlay: str) -> None:
    runtime = support.dockerfile_stages()[-1]
    (user,) = runtime.all("USER")
    image_uid = int(user.arguments.split(":")[0])
    for resource in workloads(rendered[overlay]):
        spec = kustomize.pod_spec(resource)
        assert spec is not None
        where = kustomize.key(resource)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == image_uid != 0, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        mounts_tmp = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            # With a read-only root, /tmp (TMPDIR) must be a writable volume.
            assert any(
                m["mountPath"] == "/tmp" and m["name"] in mounts_tmp
                for m in container["volumeMounts"]
            ), where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_liveness_is_alive_readiness_is_dependencies(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    resources = rendered[overlay]
    for resource, container in our_containers(resources):
        if resource["kind"] == "Job":
            continue
        where = kustomize.key(resource)
        loaded = support.load_settings_for(
            container["command"], container_env(container, resources)
        )
        liveness, readiness = container["livenessProbe"], container["readinessProbe"]
        if loaded.service == "emulator":
            assert liveness["httpGet"]["path"] == "/_emulator/health"
        else:
            # Dependencies only in readiness: a database outage must not restart every pod.
            assert liveness["httpGet"]["path"] == "/healthz", where
            assert readiness["httpGet"]["path"] == "/readyz", where
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz", where
            # The ops server answers a slow check within its own timeout, below the probe's.
            assert readiness["timeoutSeconds"] > DEFAULT_CHECK_TIMEOUT_SECONDS, where
        for probe in (liveness, readiness):
            assert port_number(container, probe["httpGet"]["port"]) == loaded.port, where
        annotations = resource["spec"]["template"]["metadata"].get("annotations", {})
        if loaded.service != "emulator":
            assert annotations["prometheus.io/scrape"] == "true", where
            assert annotations["prometheus.io/path"] == "/metrics", where
            assert int(annotations["prometheus.io/port"]) == loaded.port, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_covers_the_drain(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    worker = kustomize.find(rendered[overlay], "Deployment", "notion-batch-worker")
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # The drain, then cancelling what is left, handing ticks back and closing connections.
    assert grace >= DRAIN_SECONDS + 10, (grace, DRAIN_SECONDS)

    api = kustomize.find(rendered[overlay], "Deployment", "notion-batch-api")
    spec = api["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] > int(pre_stop[1]) + api_shutdown_timeout()


def api_shutdown_timeout() -> float:
    """``shutdown_timeout`` the API passes to ``web.run_app`` (services/api/…/main.py)."""
    path = support.ROOT / "services/api/notion_batch/api/main.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "shutdown_timeout":
            value = ast.literal_eval(node.value)
            assert isinstance(value, int | float)
            return float(value)
    raise AssertionError(f"{path} passes no shutdown_timeout: check the API's grace period")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    resources = rendered[overlay]
    budgets = [r for r in resources if r["kind"] == "PodDisruptionBudget"]
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        if deployment["metadata"]["name"] == "notion-batch-emulator":
            assert not matching  # one in-memory replica, dev only: nothing to protect
            continue
        assert len(matching) == 1, kustomize.key(deployment)
        # maxUnavailable: a budget of a single-replica Deployment must not block node drains.
        assert matching[0]["spec"] == {
            "maxUnavailable": 1,
            "selector": matching[0]["spec"]["selector"],
        }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_is_exposed_and_nothing_else(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    resources = rendered[overlay]
    (ingress,) = (r for r in resources if r["kind"] == "Ingress")
    services = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Service"}
    api = kustomize.find(resources, "Deployment", "notion-batch-api")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            # Only the REST API: /metrics and the probes stay inside the cluster.
            assert path["path"] == "/api/"
            assert path["pathType"] == "Prefix"
            backend = path["backend"]["service"]
            service = services[backend["name"]]
            (port,) = (p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"])
            selector = service["spec"]["selector"]
            assert selector.items() <= api["spec"]["template"]["metadata"]["labels"].items()
            container = api["spec"]["template"]["spec"]["containers"][0]
            assert port_number(container, port["targetPort"]) == 8000
    if overlay.startswith("prod"):
        assert ingress["spec"]["tls"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migration_job(rendered: dict[str, list[Resource]], overlay: str) -> None:
    job = kustomize.find(rendered[overlay], "Job", "notion-batch-migrate")
    spec = job["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["backoffLimit"] >= 1
    assert spec["activeDeadlineSeconds"] > 0
    (container,) = spec["template"]["spec"]["containers"]
    assert container["command"] == ["notion-batch", "migrate"]


def test_the_emulator_is_dev_only_and_wired(rendered: dict[str, list[Resource]]) -> None:
    dev = rendered["dev"]
    config = kustomize.find(dev, "ConfigMap", "notion-batch-config")["data"]
    target = urlsplit(config["NOTION_BASE_URL"])
    service = kustomize.find(dev, "Service", str(target.hostname))
    assert [p["port"] for p in service["spec"]["ports"]] == [target.port]
    emulator = kustomize.find(dev, "Deployment", "notion-batch-emulator")
    (container,) = emulator["spec"]["template"]["spec"]["containers"]
    loaded = support.load_settings_for(container["command"], container_env(container, dev))
    assert loaded.port == target.port
    # The emulator accepts exactly the token the workers send.
    worker = kustomize.find(dev, "Deployment", "notion-batch-worker")
    worker_env = container_env(worker["spec"]["template"]["spec"]["containers"][0], dev)
    assert worker_env["NOTION_TOKEN"] in loaded.settings.config.tokens
    for overlay in ("prod", "prod-hpa"):
        assert not [r for r in rendered[overlay] if "emulator" in r["metadata"]["name"]]
        prod_config = kustomize.find(rendered[overlay], "ConfigMap", "notion-batch-config")
        assert prod_config["data"]["NOTION_BASE_URL"] == "https://api.notion.com"


# -- environment variables ---------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_set_is_one_the_services_read(
    rendered: dict[str, list[Resource]], overlay: str, env_names: frozenset[str]
) -> None:
    resources = rendered[overlay]
    for resource, container in our_containers(resources):
        names = {item["name"] for item in container.get("env", [])}
        for source in container.get("envFrom", []):
            names |= set(
                kustomize.find(resources, "ConfigMap", source["configMapRef"]["name"])["data"]
            )
        unknown = names - env_names
        assert not unknown, f"{kustomize.key(resource)} sets variables no code reads: {unknown}"
    for config_map in (r for r in resources if r["kind"] == "ConfigMap"):
        assert set(config_map["data"]) <= env_names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_gets_valid_settings(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    """Each process's settings build from exactly the environment the manifests give it."""
    resources = rendered[overlay]
    for _resource, container in our_containers(resources):
        env = container_env(container, resources)
        loaded = support.load_settings_for(container["command"], env)
        if loaded.service == "api":
            assert not loaded.settings.auth.missing_keys, "the API refuses to start without keys"
            assert loaded.settings.host == "0.0.0.0"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_go_only_where_they_are_needed(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    expected = {
        # The webhook verification token is optional (only where Notion webhooks are used).
        "api": {"DATABASE_URL", "AMQP_URL", "API_KEYS", "NOTION_WEBHOOK_VERIFICATION_TOKEN"},
        "scheduler": {"DATABASE_URL", "AMQP_URL"},
        "worker": {"DATABASE_URL", "AMQP_URL", "NOTION_TOKEN"},
        "migrate": {"DATABASE_URL"},
        "emulator": {"NOTION_TOKEN"},
    }
    for resource, container in our_containers(rendered[overlay]):
        command = container["command"]
        service = "migrate" if command == ["notion-batch", "migrate"] else SERVICES[command[0]]
        keys = {
            item["valueFrom"]["secretKeyRef"]["key"]
            for item in container.get("env", [])
            if "valueFrom" in item
        }
        assert keys == expected[service], kustomize.key(resource)


def test_production_secret_instructions_name_every_key() -> None:
    text = (K8S / "overlays/prod/kustomization.yaml").read_text()
    for key in PROD_SECRET_PLACEHOLDERS:
        assert f"--from-literal={key}=" in text, key


def test_dev_secret_is_generated_with_every_key(rendered: dict[str, list[Resource]]) -> None:
    secret = kustomize.find(rendered["dev"], "Secret", SECRET)
    assert set(secret["data"]) == set(PROD_SECRET_PLACEHOLDERS)
    for overlay in ("prod", "prod-hpa"):
        assert not [r for r in rendered[overlay] if r["kind"] == "Secret"]


# -- autoscaling -------------------------------------------------------------------------------


def test_dev_has_no_autoscaler_and_production_exactly_one(
    rendered: dict[str, list[Resource]],
) -> None:
    assert autoscaler_targets(rendered["dev"]) == []
    assert autoscaler_targets(rendered["prod"]) == ["notion-batch-worker"]
    assert autoscaler_targets(rendered["prod-hpa"]) == ["notion-batch-worker"]
    assert {r["kind"] for r in rendered["prod"]} >= {"ScaledObject", "TriggerAuthentication"}
    assert "HorizontalPodAutoscaler" not in {r["kind"] for r in rendered["prod"]}
    assert "ScaledObject" not in {r["kind"] for r in rendered["prod-hpa"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaled_deployments_leave_replicas_to_the_autoscaler(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    for name in autoscaler_targets(rendered[overlay]) or ["notion-batch-worker"]:
        deployment = kustomize.find(rendered[overlay], "Deployment", name)
        # Otherwise every `kubectl apply` resets the count the autoscaler chose.
        assert "replicas" not in deployment["spec"]


SCALED_OBJECT_SPEC = {
    "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
    "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "advanced", "triggers", "fallback",
}  # fmt: skip
TRIGGER_FIELDS = {"type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"}
RABBITMQ_METADATA = {
    "host", "hostFromEnv", "protocol", "mode", "value", "activationValue", "queueName",
    "vhostName", "useRegex", "excludeUnacknowledged", "pageSize", "operation", "timeout",
    "unsafeSsl", "usernameFromEnv", "passwordFromEnv",
}  # fmt: skip


def test_keda_scaled_object(rendered: dict[str, list[Resource]]) -> None:
    resources = rendered["prod"]
    (scaled,) = (r for r in resources if r["kind"] == "ScaledObject")
    spec = scaled["spec"]
    assert set(spec) <= SCALED_OBJECT_SPEC, set(spec) - SCALED_OBJECT_SPEC
    target = spec["scaleTargetRef"]
    assert target.get("kind", "Deployment") == "Deployment"
    assert target.get("apiVersion", "apps/v1") == "apps/v1"
    kustomize.find(resources, "Deployment", target["name"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    for field in ("pollingInterval", "cooldownPeriod"):
        assert isinstance(spec[field], int) and spec[field] > 0
    # KEDA hands `advanced.horizontalPodAutoscalerConfig` to the HPA it creates: validate
    # it with the HPA schema.
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    kubernetes_validate.validate(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "keda-hpa"},
            "spec": {"scaleTargetRef": target, "maxReplicas": 2, "behavior": behavior},
        },
        K8S_VERSIONS[0],
        strict=True,
    )

    (trigger,) = spec["triggers"]
    assert set(trigger) <= TRIGGER_FIELDS
    assert trigger["type"] == "rabbitmq"
    metadata = trigger["metadata"]
    assert set(metadata) <= RABBITMQ_METADATA, set(metadata) - RABBITMQ_METADATA
    assert metadata["protocol"] in ("amqp", "http", "auto")
    assert metadata["mode"] in ("QueueLength", "MessageRate")
    assert float(metadata["value"]) > 0
    assert isinstance(metadata["value"], str)  # KEDA's metadata values are strings
    # The queue the workers consume: <AMQP_NAMESPACE>.ticks, named by topology.py.
    namespace = kustomize.find(resources, "ConfigMap", "notion-batch-config")["data"][
        "AMQP_NAMESPACE"
    ]
    assert metadata["queueName"] == Topology(namespace).ticks_queue
    # No credentials in the object: they come from the services' Secret.
    assert "host" not in metadata
    auth = kustomize.find(resources, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert set(auth["spec"]) == {"secretTargetRef"}
    (secret_ref,) = auth["spec"]["secretTargetRef"]
    assert secret_ref == {"parameter": "host", "name": SECRET, "key": "AMQP_URL"}


def test_hpa_fallback_scales_on_an_exported_metric(rendered: dict[str, list[Resource]]) -> None:
    resources = rendered["prod-hpa"]
    (hpa,) = (r for r in resources if r["kind"] == "HorizontalPodAutoscaler")
    (scaled,) = (r for r in rendered["prod"] if r["kind"] == "ScaledObject")
    spec = hpa["spec"]
    assert spec["minReplicas"] == scaled["spec"]["minReplicaCount"]
    assert spec["maxReplicas"] == scaled["spec"]["maxReplicaCount"]
    families = support.metric_families()
    (metric,) = spec["metrics"]
    assert metric["type"] == "External"
    name = metric["external"]["metric"]["name"]
    assert name in families, f"{name} is not defined in metrics.py"
    selector = metric["external"]["metric"]["selector"]["matchLabels"]
    assert set(selector) <= set(families[name].labels)
    assert selector == {"queue": "ticks"}
    assert (
        metric["external"]["target"]["averageValue"]
        == scaled["spec"]["triggers"][0]["metadata"]["value"]
    )
