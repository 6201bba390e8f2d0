"""The deployment files in deploy/: the environment templates list every variable the code
reads, the production dagster.yaml passes Dagster's own schema, the Compose file and the
systemd units pass their tools' checks where those tools are installed (skipped, with the
reason, where not), and the Procfile, Compose file and units run the same services."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CODE_FOLDERS = ("pipelines", "outreach", "contacts", "scrapers", "markets", "dashboards")
VARIABLE = re.compile(r"\b(WHOLESALER_[A-Z0-9_]*[A-Z0-9]|TWILIO_[A-Z0-9_]*[A-Z0-9]|"
                      r"SMTP_[A-Z0-9_]*[A-Z0-9]|DAGSTER_HOME)\b")
# Names that match the pattern but are not environment variables, and test-only hooks (named
# in a comment of the template, never set in production).
NOT_VARIABLES = {"SMTP_SSL", "SMTP_UTF", "TWILIO_STATUS_TO_LEDGER", "WHOLESALER_CRASH_AT"}


def variables_read_by_the_code() -> dict[str, str]:
    """Every variable name in the code and the deploy configs, with one file that names it."""
    found: dict[str, str] = {}
    sources = [path for folder in CODE_FOLDERS for path in (ROOT / folder).rglob("*.py")]
    sources += [ROOT / "dbt_project" / "profiles.yml", DEPLOY / "dagster.yaml",
                DEPLOY / "workspace.yaml"]
    for path in sources:
        if path.exists():
            text = path.read_text(errors="replace")
            if path.suffix in (".yaml", ".yml"):  # commented-out alternatives are not read
                text = "\n".join(line for line in text.splitlines()
                                 if not line.lstrip().startswith("#"))
            for name in VARIABLE.findall(text):
                found.setdefault(name, str(path.relative_to(ROOT)))
    return {name: where for name, where in found.items() if name not in NOT_VARIABLES}


def template_variables() -> set[str]:
    names = set()
    for template in (DEPLOY / "env").glob("*.env.example"):
        for line in template.read_text().splitlines():
            match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
            if match:
                names.add(match.group(1))
    return names


def test_environment_templates_list_every_variable_the_code_reads():
    listed = template_variables()
    missing = {name: where for name, where in variables_read_by_the_code().items()
               if name not in listed}
    assert not missing, f"add these to deploy/env/wholesaler.env.example: {missing}"
    assert {"WHOLESALER_PII_KEYS", "WHOLESALER_LEDGER_URL", "WHOLESALER_DAGSTER_POSTGRES_URL",
            "DAGSTER_HOME", "WHOLESALER_RETENTION_DAYS"} <= listed
    assert "TEST_POSTGRES_URL" not in listed, "test-only variables stay out of the templates"


def test_production_dagster_yaml_passes_dagsters_schema(tmp_path, monkeypatch):
    from dagster._core.instance.config import dagster_instance_config

    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("WHOLESALER_DAGSTER_POSTGRES_URL", "postgresql://u:p@db:5432/dagster")
    config, _ = dagster_instance_config(str(tmp_path))  # raises on any schema error
    assert config["storage"]["postgres"]["postgres_url"] == {
        "env": "WHOLESALER_DAGSTER_POSTGRES_URL"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["run_monitoring"]["enabled"] is True


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


def test_compose_runs_every_service_from_one_image_with_the_workspace():
    services = _compose()["services"]
    assert set(services) == {"postgres", "code", "webserver", "daemon", "webhook",
                             "dashboards", "ollama"}
    assert services["code"]["command"][:5] == ["dagster", "api", "grpc", "-m",
                                               "pipelines.definitions"]
    for name in ("webserver", "daemon"):
        assert "/app/deploy/workspace.yaml" in services[name]["command"]
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["grpc_server"]["location_name"] == "pipelines"
    assert (DEPLOY / "postgres" / "init-databases.sh").exists()
    procfile = (DEPLOY / "Procfile").read_text()
    assert "dagster api grpc -m pipelines.definitions" in procfile
    assert "dagster-daemon run -w deploy/workspace.yaml" in procfile


def test_compose_file_passes_docker_compose_config(tmp_path):
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    for template in (copy / "env").glob("*.env.example"):
        shutil.copy(template, template.with_name(template.name.removesuffix(".example")))
    completed = subprocess.run(
        [tool, "-f", str(copy / "docker-compose.yaml"), "--profile", "webhook", "--profile",
         "dashboards", "config", "--services"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert set(completed.stdout.split()) == set(_compose()["services"])


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    venv = ROOT / ".venv" / "bin"
    if not (venv / "dagster").exists():
        pytest.skip("the project's .venv is not installed here")
    # The units name the install folder /opt/wholesaler; verify them against this checkout.
    units = []
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/wholesaler", str(ROOT)))
        units.append(str(copy))
    completed = subprocess.run([tool, "verify", "--man=no", *units], capture_output=True,
                               text=True, check=False)
    problems = [line for line in completed.stderr.splitlines()
                if "wholesaler" in line and "Failed to resolve" not in line]
    assert completed.returncode == 0 and not problems, completed.stderr
