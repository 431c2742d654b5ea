"""The deployment files, checked without Docker or a cluster: the compose file against the Compose
Specification's JSON schema (check-jsonschema's vendored copy, from PyPI), the Helm values through
the config schemas of the classes the Dagster chart configures from them (dagster-k8s's
K8sRunLauncher, core's QueuedRunCoordinator, dagster-postgres's storage), translated the way the
chart's templates write them into the instance's dagster.yaml. Secrets: neither file holds one.

What this cannot check (no ``docker compose`` or ``helm`` here) is listed in docs/operations.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "deploy" / "compose" / "docker-compose.yaml"
VALUES = REPO / "deploy" / "helm" / "values.yaml"
PROFILE = REPO / "deploy" / "postgres" / "dagster.yaml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY", re.IGNORECASE)


def _check_compose(path: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("check_jsonschema", reason="the dev extra installs check-jsonschema")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_compose_file_follows_the_compose_spec(tmp_path):
    ok = _check_compose(COMPOSE)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the check can fail: a condition the spec does not know is refused
    broken = COMPOSE.read_text().replace("condition: service_healthy", "condition: service_ready", 1)
    (tmp_path / "docker-compose.yaml").write_text(broken)
    bad = _check_compose(tmp_path / "docker-compose.yaml")
    assert bad.returncode == 1 and "service_ready" in bad.stdout + bad.stderr


def test_the_compose_file_wires_four_services_and_holds_no_secret():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon"}
    here = COMPOSE.parent
    for name, service in services.items():
        for env_file in service.get("env_file", []):
            # each env file is git-ignored and ships as an example beside the compose file
            assert (here / f"{env_file}.example").is_file(), (name, env_file)
            ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", str(here / env_file)])
            assert ignored.returncode == 0, f"{env_file} is not git-ignored"
        leaked = [k for k in service.get("environment", {}) if SECRET_NAME.search(k)]
        assert not leaked, (name, leaked)
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (here / source).exists(), (name, source)
    # the webserver and the daemon load the code location the code service serves
    workspace = yaml.safe_load((here / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    command = services["code"]["command"]
    assert str(workspace["port"]) == command[command.index("-p") + 1]
    assert workspace["host"] == "code"
    assert command[command.index("-m") + 1] == "smallcaps_assets.definitions"
    assert (REPO / services["code"]["build"]["context"].replace("../..", ".")).resolve() == REPO.resolve()
    # the shipped Postgres profile is what the instance reads, and it reads its password from the env
    assert "../postgres/dagster.yaml:/opt/dagster/home/dagster.yaml:ro" in services["daemon"]["volumes"]
    example = (here / "postgres.env.example").read_text()
    for key in ("POSTGRES_PASSWORD", "DAGSTER_PG_PASSWORD", "SMALLCAPS_SHARED_STATE_URL"):
        assert f"\n{key}=" in example


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _run_launcher_config(values: dict) -> dict:
    """The K8sRunLauncher config the chart writes into dagster.yaml from ``values``: camelCase
    keys in snake case, secret and config-map references by name, plus what the chart adds."""
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    config = {
        "instance_config_map": "smallcaps-dagster-instance",
        "dagster_home": values["global"]["dagsterHome"],
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "service_account_name": "smallcaps-dagster",
    }
    for key, value in launcher["config"]["k8sRunLauncher"].items():
        if key in ("envSecrets", "envConfigMaps"):
            value = [ref["name"] for ref in value]
        elif key == "runK8sConfig":
            value = {_snake(k): v for k, v in value.items()}
        config[_snake(key)] = value
    return config


def _queue_config(values: dict) -> dict:
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    return {_snake(k): v for k, v in coordinator["config"]["queuedRunCoordinator"].items()}


def _storage_config(values: dict) -> dict:
    pg = values["postgresql"]
    return {
        "postgres_db": {
            "hostname": pg["postgresqlHost"],
            "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"},  # the chart mounts the secret as this variable
            "db_name": pg["postgresqlDatabase"],
            "port": pg["service"]["port"],
            "params": pg["postgresqlParams"],
            "scheme": pg["postgresqlScheme"],
        }
    }


def _errors(config_type, config: dict) -> list[str]:
    from dagster._config import process_config

    result = process_config(config_type, config)
    return [] if result.success else [e.message for e in result.errors]


def test_the_helm_values_configure_the_k8s_run_launcher():
    pytest.importorskip("dagster_k8s", reason="the dev extra installs dagster-k8s")
    from dagster_k8s.launcher import K8sRunLauncher

    values = yaml.safe_load(VALUES.read_text())
    config = _run_launcher_config(values)
    assert _errors(K8sRunLauncher.config_type(), config) == []
    assert config["env_secrets"] == ["smallcaps-secrets"]
    # the check can fail: a misspelt key is refused by name
    values["runLauncher"]["config"]["k8sRunLauncher"]["envSecret"] = [{"name": "x"}]
    errors = _errors(K8sRunLauncher.config_type(), _run_launcher_config(values))
    assert errors and "env_secret" in errors[0]


def test_the_helm_values_keep_the_profile_queue_and_storage(monkeypatch):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresRunStorage

    values = yaml.safe_load(VALUES.read_text())
    profile = yaml.safe_load(PROFILE.read_text())
    queue = _queue_config(values)
    assert _errors(QueuedRunCoordinator.config_type(), queue) == []
    runs = profile["concurrency"]["runs"]
    assert queue["max_concurrent_runs"] == runs["max_concurrent_runs"]
    assert queue["tag_concurrency_limits"] == runs["tag_concurrency_limits"]
    daemon = values["dagsterDaemon"]
    assert daemon["runRetries"]["maxRetries"] == profile["run_retries"]["max_retries"]
    assert (
        daemon["runMonitoring"]["startTimeoutSeconds"] == profile["run_monitoring"]["start_timeout_seconds"]
    )
    storage = _storage_config(values)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")  # as in the chart's pods
    assert _errors(PostgresRunStorage.config_type(), storage) == []
    assert storage["postgres_db"]["scheme"] == profile["storage"]["postgres"]["postgres_db"]["scheme"]
    broken = {**queue, "max_concurent_runs": 3}
    assert _errors(QueuedRunCoordinator.config_type(), broken)


def _walk(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*path, str(k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, str(i)))
    else:
        yield path, node


def test_the_helm_values_hold_no_secret():
    values = yaml.safe_load(VALUES.read_text())
    assert values["generatePostgresqlPasswordSecret"] is False
    assert "postgresqlPassword" not in values["postgresql"]
    for path, value in _walk(values):
        leaf = path[-1]
        if (
            SECRET_NAME.search(leaf)
            and not leaf.endswith("SecretName")
            and leaf != "generatePostgresqlPasswordSecret"
        ):
            pytest.fail(f"{'.'.join(path)} holds a value in the file")
        if isinstance(value, str) and SECRET_NAME.search(value.split("=")[0]) and "=" in value:
            pytest.fail(f"{'.'.join(path)} sets a secret variable in the file")
    refs = [v for p, v in _walk(values) if "envSecrets" in p]
    assert refs == ["smallcaps-secrets", "smallcaps-secrets"]  # the code location and every run
