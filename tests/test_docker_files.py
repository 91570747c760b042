"""Static checks of docker/ (no Docker engine runs here): the compose file is consistent with itself, with the
Dockerfile and with the repository, and the image installs the same pinned versions the README does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
SERVICES = {"postgres", "mlflow", "ray-head", "ray-worker", "client"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (DOCKER / "Dockerfile").read_text()


def _volume_names(service: dict) -> set[str]:
    names = set()
    for entry in service.get("volumes", []):
        source = entry.split(":", 1)[0] if isinstance(entry, str) else entry.get("source", "")
        if source and not source.startswith((".", "/", "~")):  # named volume, not a bind mount
            names.add(source)
    return names


def test_compose_has_every_service_and_each_built_one_points_at_the_dockerfile(compose: dict) -> None:
    services = compose["services"]
    assert SERVICES <= set(services)
    built = {name for name, s in services.items() if "build" in s}
    assert built == SERVICES - {"postgres"}
    for name in built:
        build = services[name]["build"]
        context = (DOCKER / build["context"]).resolve()
        assert context == ROOT, f"{name}: build context must be the repository root"
        assert (context / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"
        assert services[name]["image"] == services["ray-head"]["image"], "one image for every augmix-lab service"


def test_named_volumes_are_declared_and_used(compose: dict) -> None:
    used = set().union(*(_volume_names(s) for s in compose["services"].values()))
    declared = set(compose.get("volumes") or {})
    assert used == declared, f"used {sorted(used)} vs declared {sorted(declared)}"
    assert {"pgdata", "mlartifacts", "datasets", "outputs"} <= declared
    for name in ("ray-head", "ray-worker", "client"):  # every node sees the same datasets and study directories
        assert {"datasets", "outputs"} <= _volume_names(compose["services"][name])


def test_dependencies_exist_and_healthy_conditions_have_health_checks(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[dep], f"{dep} needs a healthcheck for {name}"
    for name in ("postgres", "mlflow", "ray-head", "ray-worker"):
        assert services[name]["healthcheck"]["test"]


def test_gpu_workers_reserve_gpus_and_ports_bind_loopback(compose: dict) -> None:
    devices = compose["services"]["ray-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


def test_mlflow_uses_the_postgres_service_credentials_and_the_artifact_volume(compose: dict) -> None:
    services = compose["services"]
    env = services["postgres"]["environment"]
    command = " ".join(services["mlflow"]["command"])
    expected = f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/{env['POSTGRES_DB']}"
    assert f"--backend-store-uri={expected}" in command
    destination = re.search(r"--artifacts-destination=(\S+)", command).group(1)
    assert f"mlartifacts:{destination}" in services["mlflow"]["volumes"]
    assert "--serve-artifacts" in command
    hosts = re.search(r"--allowed-hosts=(\S+)", command).group(1).split(",")
    assert "mlflow:5000" in hosts, "workers reach the server as http://mlflow:5000"
    for name in ("ray-head", "ray-worker", "client"):
        assert services[name]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_ray_workers_and_client_join_the_head_service(compose: dict) -> None:
    services = compose["services"]
    head = services["ray-head"]["command"]
    port = next(a.split("=", 1)[1] for a in head if a.startswith("--port="))
    assert "--head" in head and "--block" in head
    assert f"--address=ray-head:{port}" in services["ray-worker"]["command"]
    assert services["client"]["environment"]["RAY_HEAD"] == f"ray-head:{port}"
    study = services["client"]["command"][0]
    assert (ROOT / study).is_file(), f"the client's default study {study} is shipped"


def test_dockerfile_installs_the_readme_constraints_and_copies_what_exists(dockerfile: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pip install -c constraints.txt" in readme
    installs = [ln for ln in dockerfile.splitlines() if "pip install" in ln]
    assert installs and all("-c constraints.txt" in ln for ln in installs), installs
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            *sources, _dest = shlex.split(line)[1:]
            for src in sources:
                assert (ROOT / src).exists(), f"COPY source {src} is missing"
    assert re.search(r"^ARG BASE_IMAGE=nvidia/cuda:\S+runtime", dockerfile, re.M), "CUDA runtime base by default"
    assert "TORCH_INDEX" in dockerfile, "a CPU variant by build arg"


def test_client_entrypoint_is_installed_and_runs_augmix_lab_against_the_head(compose: dict, dockerfile: str) -> None:
    script = DOCKER / "entrypoint-client.sh"
    assert script.stat().st_mode & 0o111, "the entrypoint script is executable"
    installed = re.search(r"COPY docker/entrypoint-client.sh (\S+)", dockerfile).group(1)
    assert Path(installed).name == compose["services"]["client"]["entrypoint"][0]
    text = script.read_text()
    assert "ray start --address=" in text and 'augmix-lab run --address "${RAY_HEAD}"' in text


def test_extras_named_by_the_dockerfile_exist_and_are_pinned(dockerfile: str) -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = (ROOT / "constraints.txt").read_text().lower()
    for extra in set(re.findall(r'"\.\[(\w+)\]"', dockerfile)):
        assert extra in extras, f"pyproject has no [{extra}] extra"
        for dep in extras[extra]:
            name = re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower()
            assert f"{name}==" in pins, f"{name} (extra {extra}) is not pinned in constraints.txt"


def test_every_ray_process_shares_the_clusters_token(compose: dict) -> None:
    for name in ("ray-head", "ray-worker", "client"):
        env = compose["services"][name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?"), "compose refuses to start without a token"
