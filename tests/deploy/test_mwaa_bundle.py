"""`make mwaa-bundle`: the bundle alone, laid out as MWAA lays it out, loads every DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "mwaa_bundle.py"
ENTRY = {"name": "mwaa", "user_pool_id": "us-east-1_AbC123", "region": "us-east-1", "table_name": "cognito-backup-mwaa"}

# Run in a clean process: parse the DAGs folder with DagBag, report DAG ids, import errors and
# where the plugin package came from.
LOAD_DAGS = """
import json, sys
from airflow.configuration import conf
try:
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow before 3.1
    from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
import cognito_backup
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "package": cognito_backup.__file__, "path": sys.path}))
"""


def bundle(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], capture_output=True, text=True)


@pytest.mark.parametrize("airflow, python", [("2.11.0", "3.12"), ("3.0.6", "3.12")])
def test_requirements_carry_the_constraint_line_of_the_airflow_version(tmp_path, airflow, python):
    assert bundle(tmp_path, "--airflow-version", airflow).returncode == 0
    lines = [line for line in (tmp_path / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    url = f"https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"
    assert lines[0] == f'--constraint "{url}"'
    # Names only: the constraint file picks the versions, and a bound of ours could make MWAA's install fail.
    ours = [Requirement(line.split("#")[0]) for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.split("#")[0].strip()]
    shipped = [Requirement(line) for line in lines[1:]]
    assert [(r.name, r.extras) for r in shipped] == [(r.name, r.extras) for r in ours]
    assert all(not r.specifier and r.marker is None for r in shipped)
    assert "apache-airflow-providers-amazon" in lines


def test_unsupported_versions_and_bad_configs_are_refused(tmp_path):
    refused = bundle(tmp_path / "a", "--airflow-version", "2.10.3")
    assert refused.returncode == 2 and "2.11.0, 3.0.6" in refused.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"backups": [{**ENTRY, "cognito_tps": 0}]}))
    refused = bundle(tmp_path / "b", "--config", str(bad))
    assert refused.returncode == 2 and "key 'cognito_tps'" in refused.stderr
    assert not (tmp_path / "b" / "plugins.zip").exists()


def test_plugins_zip_holds_the_package_at_its_root(tmp_path):
    assert bundle(tmp_path).returncode == 0
    package = ROOT / "plugins" / "cognito_backup"
    expected = {
        p.relative_to(ROOT / "plugins").as_posix()
        for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    } | {".airflowignore"}  # keeps Airflow's plugin loader out of the package
    with zipfile.ZipFile(tmp_path / "plugins.zip") as archive:
        assert set(archive.namelist()) == expected
    assert "cognito_backup/__init__.py" in expected and "cognito_backup/waiters/cognito-idp.json" in expected
    first = (tmp_path / "plugins.zip").read_bytes()
    assert bundle(tmp_path).returncode == 0
    assert (tmp_path / "plugins.zip").read_bytes() == first, "same sources, same zip"


def test_every_dag_loads_from_the_bundle_alone_as_mwaa_lays_it_out(tmp_path):
    config = tmp_path / "backups.yaml"
    config.write_text(yaml.safe_dump({"backups": [ENTRY]}))
    built = bundle(tmp_path / "dist", "--config", str(config))
    assert built.returncode == 0, built.stderr

    # MWAA: AIRFLOW_HOME=/usr/local/airflow, the S3 dags/ synced to dags/, plugins.zip unpacked into plugins/.
    home = tmp_path / "usr-local-airflow"
    home.mkdir()
    os.rename(tmp_path / "dist" / "dags", home / "dags")
    with zipfile.ZipFile(tmp_path / "dist" / "plugins.zip") as archive:
        archive.extractall(home / "plugins")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "COGNITO_BACKUP", "AWS_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    })
    run = subprocess.run([sys.executable, "-c", LOAD_DAGS], env=env, cwd=home, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])

    assert loaded["errors"] == {}
    assert loaded["dags"] == ["cognito_export_mwaa", "cognito_import"]  # the config shipped beside the DAG files
    assert Path(loaded["package"]).is_relative_to(home / "plugins")
    assert not any(entry.startswith(str(ROOT / "plugins")) for entry in loaded["path"])
