"""Settings: defaults, typed parsing, and one clear line for a bad value."""

import pytest

from services.common.platform.settings import COMMON, CommonSettings, ConfigError, Env
from tests.unit.all_variables import DECLARATIONS, SETTINGS_MODULES, VARIABLES


def test_defaults_give_a_working_local_configuration():
    settings = CommonSettings.from_env("gateway", 9101, Env({}))
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.mongo_uri.startswith("mongodb://127.0.0.1:27017")
    assert settings.metrics_port == 9101
    assert "billing" in settings.escalation_queues


@pytest.mark.parametrize(
    "env, phrase",
    [
        ({"CS_METRICS_PORT": "ninety"}, "CS_METRICS_PORT='ninety' is not an integer"),
        ({"CS_LOG_LEVEL": "LOUD"}, "CS_LOG_LEVEL"),
        ({"CS_ESCALATION_QUEUES": "billing,bad queue!"}, "not a valid queue name"),
        ({"CS_STARTUP_TIMEOUT_S": "soon"}, "CS_STARTUP_TIMEOUT_S"),
    ],
)
def test_bad_values_fail_with_the_variable_named(env, phrase):
    with pytest.raises(ConfigError) as err:
        CommonSettings.from_env("gateway", 9101, Env(env))
    assert phrase in str(err.value)
    assert "\n" not in str(err.value)


def test_undeclared_variables_cannot_be_read():
    with pytest.raises(KeyError):
        Env({}).str("CS_SOMETHING_NOBODY_DOCUMENTED")


def test_a_service_reads_its_own_variables_and_no_other_services():
    from services.gateway.settings import VARIABLES as GATEWAY

    assert Env({}, GATEWAY).int("CS_GATEWAY_RATE_PER_MINUTE") == 120
    with pytest.raises(KeyError):
        Env({}).str("CS_GATEWAY_LISTEN")
    with pytest.raises(KeyError):
        Env({}, GATEWAY).str("CS_CUSTOMER_TIMEZONE")


def test_each_variable_is_declared_once():
    names = [name for declared in DECLARATIONS for name in declared]
    assert not [name for name in names if names.count(name) > 1]


def test_a_service_reads_the_shared_variables_and_its_own():
    for service, module in SETTINGS_MODULES.items():
        assert module.VARIABLES == {**COMMON, **module.OWN}, service
        assert all(v.services == (service,) for v in module.OWN.values()), service


def test_shared_variables_are_read_by_several_services():
    alone = [name for name, v in COMMON.items() if len(v.services) < 2 and v.services != ("all",)]
    assert not alone, f"read by one service: declare them in that service's settings module: {alone}"


def test_every_variable_is_documented():
    for variable in VARIABLES.values():
        assert variable.name.startswith("CS_") and len(variable.doc) > 10


def test_policy_variables_are_declared():
    from services.generator.policy import ENV_VARIABLES
    from services.generator.settings import OWN as GENERATOR

    missing = [name for name, _ in ENV_VARIABLES if name not in GENERATOR]
    assert not missing, f"declare in services/generator/settings.py: {missing}"


def test_readme_documents_every_variable():
    import pathlib

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [name for name in VARIABLES if f"`{name}`" not in readme]
    assert not missing, f"add to the README configuration table: {missing}"
