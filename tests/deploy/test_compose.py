"""The local stack (docker-compose.yaml, Dockerfile, localaws/Dockerfile), checked without Docker.

The Compose Specification schema is committed in schemas/ (see schemas/README.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from cognito_backup.config import parse_entry

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
AIRFLOW_SERVICES = {
    "airflow-api-server": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def pinned(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE | re.IGNORECASE)
    assert match, f"{package} is not pinned in constraints.txt"
    return match.group(1)


def makefile_python() -> str:
    """The Python the venv, and so every test, runs on (the Makefile's PYTHON)."""
    return re.search(r"^PYTHON \?= python(\d+\.\d+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)


def script(service: dict) -> str:
    """A service's shell command as the container runs it (Compose turns `$$` into `$`)."""
    command = service["command"]
    return (command[-1] if isinstance(command, list) else command).replace("$$", "$")


def environment(compose: dict, service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else env


def dockerfile_instructions(path: Path, name: str) -> list[str]:
    text = re.sub(r"\\\n\s*", " ", path.read_text())  # join continued lines
    return [line.split(None, 1)[1] for line in text.splitlines() if line.upper().startswith(name + " ")]


def test_the_compose_file_follows_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_every_service_of_the_stack_is_there(compose):
    services = compose["services"]
    assert {"postgres", "localaws", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == [command], name
        assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["localaws"] == {"condition": "service_healthy"}, "config not written yet"
        assert environment(compose, name)["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert services["airflow-init"]["command"] == ["db", "migrate"]
    assert "127.0.0.1:8080:8080" in services["airflow-api-server"]["ports"]
    # Every component shares the secrets that tokens and encrypted values are checked with.
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
        assert len({environment(compose, name).get(key) for name in [*AIRFLOW_SERVICES, "airflow-init"]}) == 1
        assert environment(compose, "airflow-scheduler").get(key), key


def test_images_are_the_pinned_versions(compose):
    airflow, python = pinned("apache-airflow"), makefile_python()
    assert dockerfile_instructions(ROOT / "Dockerfile", "FROM") == [f"apache/airflow:{airflow}-python{python}"]
    install = " ".join(dockerfile_instructions(ROOT / "Dockerfile", "RUN"))
    assert f'"apache-airflow=={airflow}"' in install and "-c /opt/cognito-backup/constraints.txt" in install
    [localaws_base] = dockerfile_instructions(ROOT / "localaws" / "Dockerfile", "FROM")
    assert re.fullmatch(rf"python:{re.escape(python)}(-[a-z]+)*", localaws_base), localaws_base
    assert "-c constraints.txt" in " ".join(dockerfile_instructions(ROOT / "localaws" / "Dockerfile", "RUN"))
    pinned("moto")
    for name, service in compose["services"].items():
        if "build" not in service:
            image, _, tag = service["image"].partition(":")
            assert re.fullmatch(r"\d+(\.\d+)+(-[a-z0-9]+)*", tag), f"{name}: {service['image']} is not a fixed tag"
    assert compose["services"]["postgres"]["image"].startswith("postgres:")


def test_the_images_copy_only_what_the_build_context_lets_through():
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    airflow_sources = []
    for dockerfile in (ROOT / "Dockerfile", ROOT / "localaws" / "Dockerfile"):
        for copy in dockerfile_instructions(dockerfile, "COPY"):
            sources = [s.rstrip("/") for s in copy.split()[:-1] if not s.startswith("--")]
            for source in sources:
                assert source in allowed, f"{dockerfile.name} copies {source}, which .dockerignore leaves out"
                assert (ROOT / source).exists(), source
            if dockerfile == ROOT / "Dockerfile":
                airflow_sources += sources
    # The deployable image: nothing of the development tooling.
    assert set(airflow_sources) == {"requirements.txt", "constraints.txt", "dags", "plugins", "include/config"}


def test_airflow_reaches_the_emulator_with_dummy_credentials(compose):
    port = re.search(r"localaws serve --host 0\.0\.0\.0 --port (\d+)", script(compose["services"]["localaws"])).group(1)
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        connection = json.loads(environment(compose, name)["AIRFLOW_CONN_AWS_DEFAULT"])
        assert connection["conn_type"] == "aws"
        assert connection["extra"]["endpoint_url"] == f"http://localaws:{port}"
        assert connection["login"] and connection["password"]
        assert "AWS_ENDPOINT_URL" not in environment(compose, name), "the connection alone must point at the emulator"


def test_the_export_config_is_the_one_the_seed_step_writes(compose):
    """localaws seeds a pool at startup and writes the export config, with its id, into a shared volume."""
    localaws = compose["services"]["localaws"]
    seed = script(localaws)
    heredoc = re.search(r"cat > (\S+)\.new <<EOF\n(.*?)\nEOF\n", seed, re.DOTALL)
    written, text = heredoc.group(1), heredoc.group(2)
    assert f"mv {written}.new {written}" in seed, "the config must appear whole, and only once the pool exists"
    assert seed.index("localaws seed ") < seed.index(f"mv {written}.new")
    assert localaws["healthcheck"]["test"] == ["CMD", "test", "-s", written]

    region = re.search(r"localaws seed .*--region (\S+)", seed).group(1)
    [entry] = yaml.safe_load(text.replace("$pool", f"{region}_SeededPool1"))["backups"]
    backup = parse_entry(entry, 0)
    assert backup.region == region and backup.dag_id == "cognito_export_local"

    # The file the Airflow containers read is that file, in the same volume.
    config = environment(compose, "airflow-scheduler")["COGNITO_BACKUP_CONFIG"]
    [localaws_mount] = [v for v in localaws["volumes"] if written.startswith(v.split(":")[1] + "/")]
    volume, localaws_dir = localaws_mount.split(":")[:2]
    for name in AIRFLOW_SERVICES:
        mounts = {v.split(":")[0]: v.split(":")[1] for v in compose["services"][name]["volumes"]}
        assert config == mounts[volume] + written[len(localaws_dir):], name
    assert volume in compose["volumes"]
