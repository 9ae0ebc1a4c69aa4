"""The web chat's deployment files: it gets its own settings, binds all interfaces, gets its secrets
from a Secret, and gets no database or Kafka credential (it never reads either).

tests/unit/test_deploy_config.py checks the four pipeline services; the web chat reads only four of
the shared variables, so its rule 1 (every shared variable whose default breaks in a container) does
not apply to it, and these checks take its place.
"""

from __future__ import annotations

from tests.unit.test_deploy_config import K8S, base_objects, compose_services, main_container

NEEDED = {
    "CS_WEBCHAT_LISTEN",
    "CS_WEBCHAT_GATEWAY",
    "CS_WEBCHAT_CHANNEL_KEY",
    "CS_WEBCHAT_TOKEN_SECRET",
    "CS_METRICS_PORT",
}


def test_compose_gives_the_web_chat_its_settings_and_no_database():
    service = compose_services()["webchat"]
    env = service["environment"]
    assert set(env) >= NEEDED
    assert env["CS_WEBCHAT_LISTEN"].startswith("0.0.0.0:") and env["CS_METRICS_HOST"] == "0.0.0.0"
    assert env["CS_WEBCHAT_GATEWAY"] == "gateway:50051", "the public API, never the reply sink"
    assert not {"CS_MONGO_URI", "CS_KAFKA_BOOTSTRAP"} & set(env)
    assert service["profiles"] == ["webchat"], "a plain `up` must not start it without its keys"


def test_kubernetes_gives_the_web_chat_its_secrets_from_a_secret_and_no_database():
    [deployment] = [o for o in base_objects() if o["kind"] == "Deployment" and o["metadata"]["name"] == "cs-webchat"]
    container = main_container(deployment)
    env = {item["name"]: item for item in container["env"]}
    assert set(env) >= NEEDED
    for name in ("CS_WEBCHAT_CHANNEL_KEY", "CS_WEBCHAT_TOKEN_SECRET"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "cs-webchat"
    assert env["CS_WEBCHAT_LISTEN"]["value"].startswith("0.0.0.0:")
    assert env["CS_WEBCHAT_GATEWAY"]["value"] == "cs-gateway:50051"
    assert "CS_MONGO_URI" not in env
    probes = {p: container[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert probes == {"startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == env["CS_METRICS_PORT"]["value"] == "9106"


def test_the_web_chat_reaches_only_the_gateways_public_port():
    policies = [o for o in base_objects() if o["kind"] == "NetworkPolicy"]
    egress = [p for p in policies if p["metadata"]["name"] == "cs-webchat-egress"]
    assert [r["ports"] for r in egress[0]["spec"]["egress"]] == [[{"protocol": "TCP", "port": 50051}]]
    assert (K8S / "base" / "webchat.yaml").read_text().count("50052") == 0
