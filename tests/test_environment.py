"""pyproject.toml and environment.yml list the same packages with the same bounds."""

import re
import tomllib

import yaml

from crmresearch import config

CONDA_ONLY = {"python", "quarto", "pip", "openjdk"}


def _split(requirement: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", requirement)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_pyproject_and_environment_agree():
    project = tomllib.loads((config.PROJECT_DIR / "pyproject.toml").read_text())["project"]
    wanted = dict(_split(r) for r in project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((config.PROJECT_DIR / "environment.yml").read_text())
    listed = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed.update(_split(r) for r in dep["pip"] if not r.startswith("-e"))
        else:
            name, spec = _split(dep.replace("=", "==", 1) if re.match(r"^[\w\-]+=[^=<>]", dep) else dep)
            if name not in CONDA_ONLY:
                listed[name] = spec
    assert listed == wanted


def test_environment_pins_python_311_and_quarto():
    env = yaml.safe_load((config.PROJECT_DIR / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in deps and any(d.startswith("quarto") for d in deps)
    assert any(isinstance(d, dict) and "-e ." in d["pip"] for d in env["dependencies"])
