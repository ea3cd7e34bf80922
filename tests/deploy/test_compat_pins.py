"""`make test-compat` tests each MWAA version the bundle offers as MWAA installs it, and the
package, the bundle and the README claim no other versions."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
COMPAT = ROOT / "compat"
# What the project touches, pinned to the constraint file's versions in each compat folder.
PINNED = ("apache-airflow", "apache-airflow-providers-amazon", "boto3", "botocore", "aiobotocore", "pyyaml")


def python_of() -> dict[str, str]:
    spec = importlib.util.spec_from_file_location("mwaa_bundle", ROOT / "deploy" / "mwaa_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PYTHON_OF


def requirements(path: Path) -> dict[str, Requirement]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            found[requirement.name.lower()] = requirement
    return found


def pins(path: Path) -> dict[str, str]:
    """name -> version of a requirements or freeze file's `==` pins."""
    return {name: str(r.specifier).removeprefix("==") for name, r in requirements(path).items()
            if str(r.specifier).startswith("==")}


def compat_pins() -> dict[str, dict[str, str]]:
    """MWAA version -> the versions its compat folder pins, and its Python."""
    return {
        folder.name.removeprefix("airflow-"): {
            **pins(folder / "requirements.txt"),
            "python": (folder / "python-version").read_text(encoding="utf-8").strip(),
        }
        for folder in sorted(COMPAT.glob("airflow-*"))
    }


def test_every_mwaa_version_the_bundle_offers_is_tested_on_its_python():
    assert {v: t["python"] for v, t in compat_pins().items()} == python_of()


@pytest.mark.parametrize("version", sorted(python_of()))
def test_the_compat_pins_are_the_airflow_of_the_version_and_its_freeze(version):
    folder = COMPAT / f"airflow-{version}"
    wanted = pins(folder / "requirements.txt")
    assert wanted["apache-airflow"] == version
    assert set(PINNED) <= set(wanted), "each package the project touches pinned as its constraint file pins it"
    frozen = pins(folder / "constraints.txt")
    assert {name: frozen[name] for name in wanted} == wanted, "the freeze installs what requirements.txt pins"
    amazon = requirements(folder / "requirements.txt")["apache-airflow-providers-amazon"]
    assert "aiobotocore" in amazon.extras, "MWAA installs the provider with its async client"


def test_the_package_floor_is_the_oldest_provider_tested():
    oldest = min(Version(t["apache-airflow-providers-amazon"]) for t in compat_pins().values())
    floor = requirements(ROOT / "requirements.txt")["apache-airflow-providers-amazon"].specifier
    assert [(s.operator, Version(s.version)) for s in floor] == [(">=", oldest)]
    assert Version(pins(ROOT / "constraints.txt")["apache-airflow-providers-amazon"]) in floor


def test_the_readme_names_the_versions_tested_for_each_mwaa_version():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Running on Amazon MWAA", 1)[1]
    rows = re.findall(r"^\| (\d[\d.]*) \| (.+) \|$", section.split("\n## ", 1)[0], re.MULTILINE)
    table = {version: [cell.strip() for cell in cells.split("|")] for version, cells in rows}
    assert table == {
        version: [t["apache-airflow"], t["python"], t["apache-airflow-providers-amazon"],
                  f"{t['boto3']} / {t['botocore']}", t["aiobotocore"], t["pyyaml"]]
        for version, t in compat_pins().items()
    }
