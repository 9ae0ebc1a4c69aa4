"""The deployment files give every service the settings it needs, and only settings that exist.

Read without any tool: docker-compose.yml (+ docker-compose.gpu.yml) and the Kubernetes base
(deploy/k8s/base: each Deployment's env, plus the keys of the ConfigMaps its envFrom names, from the
kustomization's configMapGenerator). The rule:

1. A service gets every variable it reads (per `VARIABLES[name].services`: its own name, "all"; VARIABLES
   is the shared declarations plus every service's own, tests/unit/all_variables.py) whose
   registry default is wrong inside a container: a default of None (required, or computed per service
   such as ports and the advertised address), or one that points at the machine itself or a developer's
   folders (127.0.0.1, localhost, ~, <repo>). DEFAULT_RIGHT_IN_CONTAINERS lists the exceptions, with why.
2. Addresses a service binds are 0.0.0.0 (CS_METRICS_HOST, CS_GATEWAY_LISTEN): Docker's and Kubernetes'
   probes and Prometheus reach the container from outside.
3. Every CS_* name set anywhere (compose, every file under deploy/k8s including overlays, the
   Dockerfile's ENV) is declared in VARIABLES, and a service container only gets variables that it
   or the cs CLI reads (the CLI is in every image, for `exec`).
4. Ports agree: metrics port with the scrape targets, container ports and annotations; health port and
   gateway port with the probes and health checks.
4b. The gateway's reply sink (PushReply carries no credentials) has its own port, which only generator
   pods may reach in Kubernetes, which no Service carries, and which compose never publishes.
5. The alert rules are the same for compose's Prometheus and the PrometheusRule, and use only metric
   names services/common/platform/metrics.py defines (plus kafka-exporter's lag and Prometheus' own `up`).
"""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

from services.common.platform.health import LIVENESS
from tests.unit.all_variables import VARIABLES

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SERVICES = ("gateway", "intent", "sentiment", "generator")
UNSAFE_DEFAULT = re.compile(r"127\.0\.0\.1|localhost|~|<repo>")
DEFAULT_RIGHT_IN_CONTAINERS = {
    "CS_INSTANCE_ID": "hostname-pid is unique per container; Kubernetes sets the pod name, compose must not "
    "give every replica of a service the same id",
    "CS_SHARED_DATA": "only the training commands read it, in the models step (the models image sets it); "
    "workers load promoted versions from CS_MODEL_DIR",
}
# Where each service's ports are, independent of the files under test.
METRICS_PORT = {"gateway": 9101, "intent": 9102, "sentiment": 9103, "generator": 9104}
HEALTH_PORT = {"gateway": 50051, "intent": 50061, "sentiment": 50062, "generator": 50063}
SINK_PORT = 50052


def reads(service: str) -> set[str]:
    return {name for name, v in VARIABLES.items() if service in v.services or "all" in v.services}


def needed_in_containers(service: str) -> set[str]:
    return {
        name
        for name in reads(service)
        if name not in DEFAULT_RIGHT_IN_CONTAINERS
        and (VARIABLES[name].default is None or UNSAFE_DEFAULT.search(VARIABLES[name].default))
    }


def load_yaml(path: pathlib.Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def env_file(path: pathlib.Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


# --- docker compose ------------------------------------------------------------------------------


def compose_services(*names: str) -> dict[str, dict]:
    services: dict[str, dict] = {}
    for name in names or ("docker-compose.yml",):
        for key, svc in load_yaml(ROOT / name)[0]["services"].items():
            merged = services.setdefault(key, {})
            merged.update({k: v for k, v in svc.items() if k != "environment"})
            merged.setdefault("environment", {}).update(svc.get("environment") or {})
    return services


def compose_env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in compose_services()[service]["environment"].items()}


# --- Kubernetes base -----------------------------------------------------------------------------


def kustomization(folder: pathlib.Path) -> dict:
    return load_yaml(folder / "kustomization.yaml")[0]


def generated_config_maps(folder: pathlib.Path) -> dict[str, dict[str, str]]:
    maps: dict[str, dict[str, str]] = {}
    for gen in kustomization(folder).get("configMapGenerator", []):
        data = maps.setdefault(gen["name"], {})
        for envs in gen.get("envs", []):
            data.update(env_file(folder / envs))
        data.update(dict(item.split("=", 1) for item in gen.get("literals", [])))
    return maps


def base_objects() -> list[dict]:
    base = K8S / "base"
    return [doc for res in kustomization(base)["resources"] for doc in load_yaml(base / res)]


def base_deployment(service: str) -> dict:
    [deployment] = [o for o in base_objects() if o["kind"] == "Deployment" and o["metadata"]["name"] == f"cs-{service}"]
    return deployment


def main_container(deployment: dict) -> dict:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return container


def k8s_env(service: str) -> dict[str, str | None]:
    """Variables the service's container gets: envFrom ConfigMaps' keys, then env (None: from a secret/field)."""
    maps = generated_config_maps(K8S / "base")
    container = main_container(base_deployment(service))
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        env[item["name"]] = item.get("value")
    return env


def k8s_set_names() -> set[str]:
    """Every variable name set in any file under deploy/k8s (base, components, overlays and patches)."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "env" and isinstance(value, list):
                    names.update(item["name"] for item in value if isinstance(item, dict) and "name" in item)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in K8S.rglob("*.yaml"):
        for doc in load_yaml(path):
            walk(doc)
            for gen in doc.get("configMapGenerator", []) + doc.get("secretGenerator", []):
                names.update(item.split("=", 1)[0] for item in gen.get("literals", []))
                for envs in gen.get("envs", []):
                    names.update(env_file(path.parent / envs))
    return names


def dockerfile_env_names() -> set[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return {match for line in text.splitlines() if line.startswith("ENV ") for match in re.findall(r"(\w+)=", line)}


# --- 1 and 2: what each service gets ---------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_every_variable_whose_default_is_wrong_in_a_container(service):
    missing = needed_in_containers(service) - set(compose_env(service))
    assert not missing, f"docker-compose.yml service {service} lacks {sorted(missing)}"


@pytest.mark.parametrize("service", SERVICES)
def test_kubernetes_sets_every_variable_whose_default_is_wrong_in_a_container(service):
    missing = needed_in_containers(service) - set(k8s_env(service))
    assert not missing, f"deploy/k8s/base Deployment cs-{service} lacks {sorted(missing)}"


def test_the_rule_covers_the_settings_that_break_containers():
    assert {"CS_KAFKA_BOOTSTRAP", "CS_MONGO_URI", "CS_METRICS_HOST", "CS_METRICS_PORT"} <= needed_in_containers(
        "intent"
    )
    assert {"CS_MODEL_DIR", "CS_HEALTH_PORT"} <= needed_in_containers("generator")
    assert {"CS_GATEWAY_LISTEN", "CS_GATEWAY_ADVERTISED_ADDR"} <= needed_in_containers("gateway")


@pytest.mark.parametrize("service", SERVICES)
def test_services_bind_all_interfaces_in_containers(service):
    for env in (compose_env(service), k8s_env(service)):
        assert env["CS_METRICS_HOST"] == "0.0.0.0"
        if service == "gateway":
            assert env["CS_GATEWAY_LISTEN"] == f"0.0.0.0:{HEALTH_PORT['gateway']}"
            assert env["CS_GATEWAY_SINK_LISTEN"] == f"0.0.0.0:{SINK_PORT}"


def test_each_gateway_pod_advertises_its_own_sink_address():
    env = {item["name"]: item for item in main_container(base_deployment("gateway"))["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["CS_GATEWAY_ADVERTISED_ADDR"]["value"] == f"$(POD_IP):{SINK_PORT}"
    assert list(env).index("POD_IP") < list(env).index("CS_GATEWAY_ADVERTISED_ADDR"), (
        "$(POD_IP) expands only if defined before"
    )


def test_the_mongo_uri_comes_from_a_secret_in_kubernetes():
    for service in SERVICES:
        env = {item["name"]: item for item in main_container(base_deployment(service))["env"]}
        assert env["CS_MONGO_URI"]["valueFrom"]["secretKeyRef"] == {"name": "cs-secrets", "key": "CS_MONGO_URI"}


def test_the_models_step_writes_where_the_workers_read():
    compose = compose_services()
    assert compose["models"]["environment"]["CS_MODEL_DIR"] == "/models"
    assert "models:/models" in compose["models"]["volumes"]
    for service in ("intent", "sentiment", "generator"):
        assert compose_env(service)["CS_MODEL_DIR"] == "/models"
        assert "models:/models:ro" in compose[service]["volumes"]
        assert k8s_env(service)["CS_MODEL_DIR"] == "/models"


# --- 3: no unknown names, no variable a service does not read ---------------------------------------


def test_every_cs_variable_set_in_the_deployment_files_is_declared():
    compose_names = {
        name
        for svc in compose_services("docker-compose.yml", "docker-compose.gpu.yml").values()
        for name in svc["environment"]
    }
    names = {n for n in compose_names | k8s_set_names() | dockerfile_env_names() if n.startswith("CS_")}
    unknown = sorted(names - set(VARIABLES))
    assert not unknown, (
        f"not declared in services/common/platform/settings.py or any services/*/settings.py (typo?): {unknown}"
    )
    assert len(names) > 20, "the scan found too few names: is it still reading the files?"


@pytest.mark.parametrize("service", SERVICES)
def test_services_get_only_variables_they_or_the_cli_read(service):
    allowed = reads(service) | reads("cli")
    for where, env in (("docker-compose.yml", compose_env(service)), ("deploy/k8s/base", k8s_env(service))):
        extra = sorted(name for name in env if name.startswith("CS_") and name not in allowed)
        assert not extra, f"{where}: {service} does not read {extra}"


# --- 4: ports ------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_kubernetes_ports_probes_and_scrape_annotations_agree(service):
    deployment = base_deployment(service)
    pod = deployment["spec"]["template"]
    container = main_container(deployment)
    env = k8s_env(service)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(env["CS_METRICS_PORT"]) == ports["metrics"] == METRICS_PORT[service]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(METRICS_PORT[service])
    health = HEALTH_PORT[service]
    if service != "gateway":
        assert int(env["CS_HEALTH_PORT"]) == health
    assert container["readinessProbe"]["grpc"] == {"port": health, "service": ""}
    assert container["livenessProbe"]["grpc"] == {"port": health, "service": LIVENESS}
    assert container["startupProbe"]["grpc"]["port"] == health


@pytest.mark.parametrize("service", SERVICES)
def test_compose_health_checks_and_prometheus_targets_agree(service):
    svc = compose_services()[service]
    env = compose_env(service)
    assert int(env["CS_METRICS_PORT"]) == METRICS_PORT[service]
    if service != "gateway":
        assert int(env["CS_HEALTH_PORT"]) == HEALTH_PORT[service]
    assert svc["healthcheck"]["test"] == ["CMD", "cs", "health", f"127.0.0.1:{HEALTH_PORT[service]}"]
    prometheus = load_yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")[0]
    [job] = [j for j in prometheus["scrape_configs"] if j["job_name"] == f"cs-{service}"]
    assert job["dns_sd_configs"] == [{"names": [service], "type": "A", "port": METRICS_PORT[service]}]


# --- 4b: the reply sink stays internal -----------------------------------------------------------


def pod_labels(service: str) -> dict[str, str]:
    labels = dict(base_deployment(service)["spec"]["template"]["metadata"]["labels"])
    for entry in kustomization(K8S / "base").get("labels", []):
        if entry.get("includeTemplates"):
            labels.update(entry["pairs"])
    return labels


def selects(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"teach this test {sorted(selector)}"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def admits_port(rule: dict, port: int, named: str) -> bool:
    if not rule.get("ports"):
        return True  # a rule without ports opens every port
    return any(
        p.get("protocol", "TCP") == "TCP"
        and (
            p.get("port") in (None, port, named)
            or (isinstance(p.get("port"), int) and p["port"] <= port <= p.get("endPort", p["port"]))
        )
        for p in rule["ports"]
    )


def network_policies() -> list[dict]:
    return [o for o in base_objects() if o["kind"] == "NetworkPolicy"]


def test_kubernetes_admits_only_generator_pods_to_the_reply_sink():
    """Policies add up: every rule of every policy selecting a gateway pod that opens the sink port must
    come from generator pods of the namespace only (no namespaceSelector, no ipBlock, not "from anywhere")."""
    gateway = pod_labels("gateway")
    rules = [
        (policy["metadata"]["name"], rule)
        for policy in network_policies()
        if selects(policy["spec"]["podSelector"], gateway) and "Ingress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get("ingress", [])
    ]
    sink_rules = {name: rule.get("from") for name, rule in rules if admits_port(rule, SINK_PORT, "sink")}
    generator_only = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "cs-generator"}}}]
    assert sink_rules and all(sources == generator_only for sources in sink_rules.values()), sink_rules
    public = [rule for _, rule in rules if admits_port(rule, HEALTH_PORT["gateway"], "grpc")]
    assert any(
        {"namespaceSelector": {"matchLabels": {"cs-platform/gateway-clients": "true"}}} in r["from"] for r in public
    )
    assert any(
        p["spec"]["podSelector"] == {} and "Ingress" in p["spec"]["policyTypes"] and not p["spec"].get("ingress")
        for p in network_policies()
    ), "without a default-deny policy every port is open"


def test_the_generator_may_leave_for_the_reply_sink():
    generator, gateway = pod_labels("generator"), pod_labels("gateway")
    rules = [
        rule
        for policy in network_policies()
        if selects(policy["spec"]["podSelector"], generator) and "Egress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"]["egress"]
    ]
    assert any(
        admits_port(rule, SINK_PORT, "sink")
        and any(selects(to["podSelector"], gateway) for to in rule.get("to", []) if "podSelector" in to)
        for rule in rules
    )


def test_the_gateway_pod_has_a_sink_port_no_service_carries():
    container = main_container(base_deployment("gateway"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["sink"] == SINK_PORT and ports["grpc"] == HEALTH_PORT["gateway"]
    services = [
        o
        for o in base_objects()
        if o["kind"] == "Service" and o["spec"].get("selector", {}).get("app.kubernetes.io/name") == "cs-gateway"
    ]
    assert services
    for service in services:
        carried = {(p["port"], p.get("targetPort")) for p in service["spec"]["ports"]}
        assert not {SINK_PORT, "sink"} & {x for pair in carried for x in pair}, (
            f"Service {service['metadata']['name']} carries the sink"
        )


def test_compose_keeps_the_reply_sink_on_its_own_network():
    for files in (("docker-compose.yml",), ("docker-compose.yml", "docker-compose.gpu.yml")):
        gateway = compose_services(*files)["gateway"]
        env = gateway["environment"]
        assert env["CS_GATEWAY_SINK_LISTEN"] == f"0.0.0.0:{SINK_PORT}"
        assert env["CS_GATEWAY_ADVERTISED_ADDR"] == f"gateway:{SINK_PORT}"
        published = [
            p["target"] if isinstance(p, dict) else int(str(p).rsplit(":", 1)[-1].split("/")[0])
            for p in gateway.get("ports", [])
        ]
        assert HEALTH_PORT["gateway"] in published and SINK_PORT not in published, published
        assert gateway.get("network_mode") != "host", "on the host network the sink would be reachable from outside"


def test_the_generator_gets_a_minute_to_drain():
    spec = base_deployment("generator")["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= 60
    assert compose_services()["generator"]["stop_grace_period"] == "60s"


# --- 5: alert rules ------------------------------------------------------------------------------


def test_compose_and_kubernetes_ship_the_same_alert_rules():
    plain = load_yaml(ROOT / "deploy" / "prometheus" / "alerts.yml")[0]
    [rule] = load_yaml(K8S / "components" / "prometheus-operator" / "prometheusrule.yaml")
    assert rule["spec"]["groups"] == plain["groups"]


def test_the_lag_alerts_watch_the_consumer_groups_the_deployed_workers_join():
    from services.common.platform.topics import consumer_group

    plain = load_yaml(ROOT / "deploy" / "prometheus" / "alerts.yml")[0]
    exprs = [
        rule["expr"]
        for group in plain["groups"]
        for rule in group["rules"]
        if "kafka_consumergroup_lag" in rule["expr"]
    ]
    patterns = {re.search(r'consumergroup=~"([^"]+)"', expr)[1] for expr in exprs}
    prefixes = {
        compose_env("intent")["CS_TOPIC_PREFIX"],
        generated_config_maps(K8S / "base")["cs-config"]["CS_TOPIC_PREFIX"],
    }
    groups = {
        consumer_group(prefix, service) for prefix in prefixes for service in ("intent", "sentiment", "generator")
    }
    assert exprs and all(re.fullmatch(pattern, group) for pattern in patterns for group in groups), (patterns, groups)


def test_alert_rules_use_only_metrics_that_exist():
    defined = set(re.findall(r'"(cs_[a-z_]+)"', (ROOT / "services" / "common" / "platform" / "metrics.py").read_text()))
    plain = load_yaml(ROOT / "deploy" / "prometheus" / "alerts.yml")[0]
    used = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for group in plain["groups"]
        for rule in group["rules"]
        for name in re.findall(r"\b(cs_[a-z_]+)\b", rule["expr"])
    }
    assert used and not used - defined, f"not in services/common/platform/metrics.py: {sorted(used - defined)}"
    names = {rule["alert"] for group in plain["groups"] for rule in group["rules"]}
    assert {
        "CsConsumerLagHigh",
        "CsEscalationRateHigh",
        "CsGrpcErrorRate",
        "CsEventFailureRate",
        "CsGrpcLatencyP99High",
    } <= names


def test_the_console_is_deployed_as_a_client_of_the_gateway_only():
    """The console is not in SERVICES (it has HTTP probes, not gRPC health): its own checks."""
    env = compose_env("console")
    assert env["CS_CONSOLE_GATEWAY"] == "gateway:50051" and env["CS_CONSOLE_LISTEN"] == "0.0.0.0:8080"
    assert not {"CS_MONGO_URI", "CS_KAFKA_BOOTSTRAP"} & set(env), "the console never talks to Kafka or the database"
    assert compose_services()["console"]["build"]["target"] == "console"
    deployment = base_deployment("console")
    container = main_container(deployment)
    k8s = {item["name"]: item for item in container["env"]}
    assert k8s["CS_CONSOLE_GATEWAY"]["value"] == "cs-gateway:50051"
    assert k8s["CS_CONSOLE_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "cs-secrets"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080, "metrics": 9105}
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9105"
    for name in {*env, *k8s}:
        assert name in VARIABLES and ("console" in VARIABLES[name].services or "all" in VARIABLES[name].services), name
