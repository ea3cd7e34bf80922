"""`make mwaa-bundle`: what an Amazon MWAA environment needs, written to dist/mwaa/.

    dags/cognito_export.py, dags/cognito_import.py
    dags/cognito_backup.yaml   the backups config: the export DAG reads it from beside itself
    plugins.zip                the cognito_backup package at the zip root
    requirements.txt           the constraint line of the chosen Airflow version, then ours

See the README, "Running on Amazon MWAA", for where each goes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from cognito_backup.config import DAGS_FOLDER_CONFIG, load_backups  # noqa: E402

# The MWAA Airflow versions supported, with the Python version MWAA runs them on (MWAA's
# version table; its 2.11.0 image is built on Python 3.12.10). `make test-compat` tests each as
# compat/airflow-<version>/ pins it.
PYTHON_OF = {"2.11.0": "3.12", "3.0.6": "3.12"}
CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"
# Fixed zip entry times: the same sources give the same plugins.zip, so an unchanged one need not be uploaded.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def requirements(airflow_version: str) -> str:
    """MWAA's requirements.txt: the constraint line, then requirements.txt's packages.

    MWAA installs with that constraint file, which pins every provider; a lower bound of ours
    on a pinned package would make the whole install fail, so only names and extras are kept.
    """
    url = CONSTRAINTS_URL.format(airflow=airflow_version, python=PYTHON_OF[airflow_version])
    lines = [
        f"# Amazon MWAA, Airflow {airflow_version} (Python {PYTHON_OF[airflow_version]}): versions come from the constraint file.",
        f'--constraint "{url}"',
    ]
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        lines.append(requirement.name + extras)
    return "\n".join(lines) + "\n"


def write_plugins_zip(path: Path) -> None:
    """plugins/ zipped with the package at the root: MWAA unpacks it into its plugins folder."""
    plugins = ROOT / "plugins"
    files = sorted(p for p in plugins.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            entry = zipfile.ZipInfo(file.relative_to(plugins).as_posix(), date_time=ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, file.read_bytes())


def build(out: Path, airflow_version: str, config: Path) -> list[str]:
    """Write the bundle to `out`; returns the export DAG ids the config declares."""
    if airflow_version not in PYTHON_OF:
        raise ValueError(f"Airflow {airflow_version} is not supported on MWAA here; choose one of {', '.join(PYTHON_OF)}")
    dag_ids = [backup.dag_id for backup in load_backups(config)]  # a bad config fails here, not on MWAA

    out.mkdir(parents=True, exist_ok=True)
    for stale in ("dags", "plugins.zip", "requirements.txt", "startup.sh"):
        target = out / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    (out / "dags").mkdir()
    for dag_file in sorted((ROOT / "dags").glob("*.py")):
        shutil.copyfile(dag_file, out / "dags" / dag_file.name)
    shutil.copyfile(config, out / "dags" / DAGS_FOLDER_CONFIG)
    write_plugins_zip(out / "plugins.zip")
    (out / "requirements.txt").write_text(requirements(airflow_version), encoding="utf-8")
    return dag_ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--airflow-version", default="2.11.0", help=f"one of {', '.join(PYTHON_OF)}")
    parser.add_argument("--config", type=Path, default=ROOT / "include" / "config" / "backups.yaml",
                        help="the backups config to ship (default: the example)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "mwaa")
    args = parser.parse_args(argv)
    try:
        dag_ids = build(args.out, args.airflow_version, args.config)
    except ValueError as error:  # ConfigError too
        print(f"mwaa-bundle: {error}", file=sys.stderr)
        return 2
    print(f"MWAA bundle for Airflow {args.airflow_version} in {args.out}: export DAGs {', '.join(dag_ids)}, and cognito_import")
    return 0


if __name__ == "__main__":
    sys.exit(main())
