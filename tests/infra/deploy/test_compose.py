"""infra/deploy/docker-compose.yml, validated with `docker compose config` (or docker-compose).

The stack cannot be started on the build machines (no registry: postgres, prefect and minio images
cannot be pulled), so these tests render the file the way Compose itself does (`config` pulls
nothing and starts nothing) and check what matters on the rendered result. The set-up scripts
under infra/deploy/compose/ run here with fake `mc` / `docker-entrypoint.sh` commands.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.tools import ROOT

pytestmark = pytest.mark.docker

COMPOSE_FILE = ROOT / "infra" / "deploy" / "docker-compose.yml"
COMPOSE_DIR = ROOT / "infra" / "deploy" / "compose"
ENV_EXAMPLE = COMPOSE_DIR / "env.example"
LOOPBACK = "127.0.0.1"
API_URL = "http://127.0.0.1:4200/api"
SECRET_KEY = re.compile(r"PASSWORD|SECRET(?!S_DIR)|ACCESS_KEY|ROOT_USER|CONNECTION_URL|AUTH_STRING")
SERVICES = {
    "postgres",
    "prefect-server",
    "minio",
    "minio-setup",
    "job-secrets",
    "bootstrap",
    "worker",
    "maintenance",
    "gateway",
}


@functools.cache
def compose_command() -> tuple[str, ...]:
    """`docker compose` (v2 plugin) when it works, else `docker-compose` (1.29+)."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return (docker, "compose")
    legacy = shutil.which("docker-compose")
    if legacy:
        return (legacy,)
    pytest.fail(
        "neither `docker compose` (Compose v2 plugin) nor `docker-compose` is installed: "
        "install one (scripts/docker-engine.sh does) to validate infra/deploy/docker-compose.yml"
    )


def example_env() -> dict[str, str]:
    """The variables env.example sets (NAME=value lines), in order."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def sentinel_env() -> dict[str, str]:
    """Every variable of env.example with a value unique to it (DOCKER_GID stays numeric)."""
    return {
        name: "4242" if name == "DOCKER_GID" else f"s3ntinel{name.lower().replace('_', '')}"
        for name in example_env()
    }


def run_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    # Only PATH and HOME: a variable of the caller's shell would override the env file.
    return subprocess.run(
        [*compose_command(), "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_env(path: Path, env: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in env.items()))
    return path


def render(env_file: Path) -> dict[str, Any]:
    done = run_config(env_file)
    assert done.returncode == 0, f"{' '.join(compose_command())} config failed:\n{done.stderr}"
    return yaml.safe_load(done.stdout)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The rendered file, every variable set to its sentinel value."""
    return render(write_env(tmp_path_factory.mktemp("compose") / "env", sentinel_env()))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=value list form
        env = dict(item.partition("=")[::2] for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host ip, published port) of each published port, short (1.29) or long (v2) syntax."""
    result = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            result.append((port.get("host_ip") or "0.0.0.0", str(port.get("published", ""))))
        else:
            parts = str(port).split("/")[0].split(":")
            host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
            result.append((host_ip, parts[-2] if len(parts) > 1 else ""))
    return result


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of each volume, short (1.29) or long (v2) syntax."""
    result = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result[volume["target"]] = volume.get("source", "")
        else:
            source, target = str(volume).split(":")[:2]
            result[target] = source
    return result


def command(service: dict[str, Any], key: str = "command") -> str:
    value = service.get(key) or []
    return value if isinstance(value, str) else " ".join(value)


def condition(service: dict[str, Any], dependency: str) -> str:
    return service["depends_on"][dependency]["condition"]


def test_example_env_renders() -> None:
    """The file as shipped, with env.example copied next to it, passes `config`."""
    done = run_config(ENV_EXAMPLE)
    assert done.returncode == 0, done.stderr
    assert set(yaml.safe_load(done.stdout)["services"]) == SERVICES


def test_env_example_lists_every_variable() -> None:
    code = [
        line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", "\n".join(code)))
    listed = set(example_env())
    commented = set(re.findall(r"^# ?([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    assert used - listed - commented == set(), "variables missing from env.example"
    assert listed - used == set(), "env.example lists variables the compose file does not use"
    # Required (no default) secrets are placeholders in env.example, never real-looking values.
    for name, value in example_env().items():
        if SECRET_KEY.search(name):
            assert value == "changeme", name


def test_services_and_volumes(rendered: dict[str, Any]) -> None:
    assert set(rendered["services"]) == SERVICES
    assert {"postgres-data", "minio-data", "prefect-home"} <= set(rendered["volumes"])
    services = rendered["services"]
    assert mounts(services["postgres"])["/var/lib/postgresql/data"] == "postgres-data"
    assert mounts(services["minio"])["/data"] == "minio-data"
    # Bind-mounted set-up scripts exist (paths are rendered absolute).
    for service in services.values():
        for source in mounts(service).values():
            if source.startswith(str(COMPOSE_DIR)):
                assert Path(source).is_file(), source


def test_postgres(rendered: dict[str, Any]) -> None:
    postgres = rendered["services"]["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in command(postgres["healthcheck"], "test")
    env = environment(postgres)
    assert env["POSTGRES_PASSWORD"] == sentinel_env()["PREFECT_DB_PASSWORD"]
    assert env["REELFLOW_DB_PASSWORD"] == sentinel_env()["REELFLOW_DB_PASSWORD"]
    init = mounts(postgres)["/docker-entrypoint-initdb.d/10-reelflow.sh"]
    assert "CREATE DATABASE reelflow" in Path(init).read_text()


def test_prefect_server_uses_postgres(rendered: dict[str, Any]) -> None:
    server = rendered["services"]["prefect-server"]
    assert server["image"] == "prefecthq/prefect:3.8.8-python3.11"
    assert command(server).startswith("prefect server start --host 0.0.0.0")
    env = environment(server)
    url = env.get("PREFECT_API_DATABASE_CONNECTION_URL") or env.get(
        "PREFECT_SERVER_DATABASE_CONNECTION_URL", ""
    )
    parts = urlsplit(url)
    assert parts.scheme == "postgresql+asyncpg"
    assert (parts.hostname, parts.port, parts.path) == ("postgres", 5432, "/prefect")
    assert parts.password == sentinel_env()["PREFECT_DB_PASSWORD"]
    assert condition(server, "postgres") == "service_healthy"
    assert "/api/health" in command(server["healthcheck"], "test")
    assert ports(server) == [(LOOPBACK, "4200")]


def test_prefect_prunes_old_flow_runs_after_the_ledger_forgets_their_jobs(
    rendered: dict[str, Any],
) -> None:
    """Prefect's own vacuum, read by Prefect's own settings model from the rendered environment:
    old flow runs are deleted (the database grows ~0.3 MB per job), but never before the ledger
    dropped their jobs (the maintenance service's retention)."""
    from prefect.settings.models.server.services import ServerServicesDBVacuumSettings

    from infra.settings.maintenance import MaintenanceSettings

    env = environment(rendered["services"]["prefect-server"])
    prefix = "PREFECT_SERVER_SERVICES_DB_VACUUM_"
    vacuum = ServerServicesDBVacuumSettings(
        **{k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
    )
    assert {"flow_runs", "events"} <= vacuum.enabled_vacuum_types
    days = environment(rendered["services"]["maintenance"]).get(
        "REELFLOW_MAINTENANCE__RETENTION_DAYS", MaintenanceSettings().retention_days
    )
    assert vacuum.retention_period > timedelta(days=int(days))


def rotated_logs(service: dict[str, Any]) -> tuple[str, int, int]:
    """(driver, max-size in bytes, max-file) of a rendered service's logging."""
    logging = service.get("logging") or {}
    options = logging.get("options") or {}
    size = str(options.get("max-size", "0"))
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    value = int(size[:-1]) * units[size[-1].lower()] if size[-1:].isalpha() else int(size)
    return logging.get("driver", ""), value, int(options.get("max-file", 0))


def test_every_service_rotates_its_logs(rendered: dict[str, Any]) -> None:
    """json-file with max-size and max-file on every service: no container fills the disk."""
    for name, service in rendered["services"].items():
        driver, size, files = rotated_logs(service)
        assert driver == "json-file", name
        assert 0 < size <= 100 * 1024**2 and 1 < files <= 10, (name, size, files)


def test_prefect_ui_api_url_is_set_and_documented(tmp_path: Path) -> None:
    """The UI calls the API where PREFECT_UI_API_URL says: loopback:4200 by default, the operator's
    address when set (a UI reached through a tunnel or proxy would otherwise call port 4200)."""
    default = environment(
        render(write_env(tmp_path / "env", sentinel_env()))["services"]["prefect-server"]
    )
    assert default["PREFECT_UI_API_URL"] == API_URL
    custom = {**sentinel_env(), "PREFECT_UI_API_URL": "https://prefect.example.com/api"}
    server = render(write_env(tmp_path / "custom", custom))["services"]["prefect-server"]
    assert environment(server)["PREFECT_UI_API_URL"] == "https://prefect.example.com/api"
    assert re.search(r"^# ?PREFECT_UI_API_URL=", ENV_EXAMPLE.read_text(), re.M)
    assert "PREFECT_UI_API_URL" in (ROOT / "README.md").read_text()


def test_minio_and_its_bucket(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    minio, setup = services["minio"], services["minio-setup"]
    assert minio["image"].startswith("minio/minio:")
    assert command(minio) == "server /data --console-address :9001"
    assert sorted(ports(minio)) == [(LOOPBACK, "9000"), (LOOPBACK, "9001")]
    assert setup["image"].startswith("minio/mc:")
    assert condition(setup, "minio") == "service_healthy"
    script = Path(mounts(setup)["/reelflow/minio-setup.sh"])
    assert "/reelflow/minio-setup.sh" in command(setup, "entrypoint")
    text = script.read_text()
    assert 'mc mb --ignore-existing "reelflow/$BUCKET"' in text
    assert 'mc anonymous set none "reelflow/$BUCKET"' in text
    # The bucket it creates is the one reelflow is configured with.
    bucket = environment(setup)["REELFLOW_BUCKET"]
    assert bucket == environment(services["bootstrap"])["REELFLOW_STORAGE__BUCKET"] == "reelflow"


def test_worker(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    worker = services["worker"]
    assert worker["image"] == "reelflow-worker:latest"
    assert worker["pull_policy"] == "never"
    assert command(worker) == "prefect worker start --pool reelflow-docker --type docker"
    assert mounts(worker)["/var/run/docker.sock"] == "/var/run/docker.sock"
    assert [str(gid) for gid in worker["group_add"]] == ["4242"]
    assert worker["network_mode"] == "host"
    assert environment(worker)["PREFECT_API_URL"] == API_URL
    assert condition(worker, "prefect-server") == "service_healthy"
    assert condition(worker, "bootstrap") == "service_completed_successfully"


def test_bootstrap(rendered: dict[str, Any]) -> None:
    bootstrap = rendered["services"]["bootstrap"]
    assert bootstrap["image"] == "reelflow-worker:latest"
    assert bootstrap["pull_policy"] == "never"
    assert command(bootstrap).startswith("reelflow bootstrap")
    assert condition(bootstrap, "prefect-server") == "service_healthy"
    assert condition(bootstrap, "minio-setup") == "service_completed_successfully"
    env = environment(bootstrap)
    assert env["PREFECT_API_URL"] == API_URL
    assert env["REELFLOW_ENV"] == "production"
    assert env["REELFLOW_STORAGE__BACKEND"] == "s3"


def test_gateway(rendered: dict[str, Any]) -> None:
    """The job API: host network, loopback only, submitting to the Docker pool's deployment."""
    gateway = rendered["services"]["gateway"]
    assert gateway["image"] == "reelflow-worker:latest" and gateway["pull_policy"] == "never"
    assert gateway["network_mode"] == "host" and not gateway.get("ports")
    argv = command(gateway).split()
    assert argv[:2] == ["reelflow", "serve"] and "--no-worker" in argv
    assert argv[argv.index("--host") + 1] == LOOPBACK
    port = argv[argv.index("--port") + 1]
    assert f"http://127.0.0.1:{port}/healthz" in command(gateway["healthcheck"], "test")
    env = environment(gateway)
    assert env["PREFECT_API_URL"] == API_URL and env["REELFLOW_ENV"] == "production"
    assert env["REELFLOW_API__PLAYBACK_SECRET"] == sentinel_env()["REELFLOW_API__PLAYBACK_SECRET"]
    docker = {
        d["name"]
        for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
        if d["work_pool"]["name"] == "reelflow-docker"
    }
    assert env["REELFLOW_PREFECT__DOCUMENT_DEPLOYMENT"].split("/")[1] in docker
    assert env["REELFLOW_STORAGE__BACKEND"] == "s3"
    assert (
        env["REELFLOW_LEDGER__URL"]
        == environment(rendered["services"]["bootstrap"])["REELFLOW_LEDGER__URL"]
    )
    assert condition(gateway, "bootstrap") == "service_completed_successfully"


def _deployments() -> dict[str, dict[str, Any]]:
    return {
        d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    }


def test_job_containers_get_the_locked_template_on_the_jobs_network(
    rendered: dict[str, Any],
) -> None:
    """Job containers join only the internal jobs network, reach the three services they need
    by name there, mount only their secrets, and a deployment may set only the locked variables
    (issue 9, #9)."""
    from infra.prefect.docker_template import LOCKED_VARIABLES, docker_base_job_template
    from infra.settings import Settings

    services = rendered["services"]
    env = environment(services["bootstrap"])
    docker_env = {k: v for k, v in env.items() if k.startswith("REELFLOW_DOCKER__")}
    settings = Settings(
        docker={k.removeprefix("REELFLOW_DOCKER__").lower(): v for k, v in docker_env.items()}
    )
    template = docker_base_job_template(settings)["job_configuration"]
    assert template["network_mode"] is None and template["networks"] == ["reelflow-jobs"]
    assert template["privileged"] is False and template["image"] == services["worker"]["image"]
    network = rendered["networks"]["jobs"]
    assert network["name"] == "reelflow-jobs" and network["internal"] is True
    on_jobs = {name for name, svc in services.items() if "jobs" in (svc.get("networks") or {})}
    assert on_jobs == {"postgres", "minio", "prefect-server"}
    api = urlsplit(template["env"]["PREFECT_API_URL"])
    assert (api.hostname, api.port) == ("prefect-server", 4200)
    assert template["env"]["REELFLOW_STORAGE__S3_ENDPOINT"] == "minio:9000"
    assert environment(services["job-secrets"])["LEDGER_HOST"] == "postgres:5432"
    host_dir = mounts(services["job-secrets"])["/secrets"]
    assert template["volumes"] == [f"{host_dir}:/run/secrets/reelflow:ro"]
    job = _deployments()["video-job-docker"]["work_pool"]["job_variables"]
    assert set(job) <= set(LOCKED_VARIABLES)  # anything else: 422 from Prefect's API
    job_env = job["env"]
    assert env["REELFLOW_STORAGE__BUCKET"] == job_env["REELFLOW_STORAGE__BUCKET"]
    assert {k for k in job_env if "SECRET" in k or "LEDGER" in k or "ACCESS" in k} == {
        "REELFLOW_STORAGE__S3_ACCESS_KEY_FILE",
        "REELFLOW_STORAGE__S3_SECRET_KEY_FILE",
        "REELFLOW_LEDGER__URL_FILE",
    }
    for key in ("REELFLOW_STORAGE__S3_ACCESS_KEY", "REELFLOW_STORAGE__S3_SECRET_KEY"):
        assert job_env[f"{key}_FILE"].startswith("/run/secrets/reelflow/")
    ledger = urlsplit(env["REELFLOW_LEDGER__URL"])
    assert (ledger.hostname, str(ledger.port)) in ports(services["postgres"])
    assert "job-secrets" in services["worker"]["depends_on"]


def test_every_deployment_has_a_pool_and_a_worker(rendered: dict[str, Any]) -> None:
    """Bootstrap creates every pool prefect.yaml names (deploying after them), and the stack runs
    a worker for the Docker jobs and one for the scheduled maintenance flows (issue 9, #8)."""
    from infra.prefect.bootstrap import WORK_POOLS

    services = rendered["services"]
    served = {}
    for name in ("worker", "maintenance"):
        words = command(services[name]).split()
        served[words[words.index("--pool") + 1]] = name
    for name, deployment in _deployments().items():
        assert deployment["work_pool"]["name"] in WORK_POOLS, name
    maintenance = [d for d in _deployments().values() if "maintenance" in d.get("tags", [])]
    assert {d["name"] for d in maintenance} == {
        "reaper",
        "sweeper",
        "retention",
        "ledger-maintenance",
        "deliver-webhooks",
    }
    for deployment in maintenance:
        assert served[deployment["work_pool"]["name"]] == "maintenance"
        assert deployment["schedules"], deployment["name"]
    assert served[_deployments()["video-job-docker"]["work_pool"]["name"]] == "worker"
    assert "--project" in command(services["bootstrap"])  # it deploys after the pools exist
    assert condition(services["maintenance"], "bootstrap") == "service_completed_successfully"


def test_the_prefect_api_requires_its_credential(rendered: dict[str, Any]) -> None:
    services = rendered["services"]
    credential = environment(services["prefect-server"])["PREFECT_SERVER_API_AUTH_STRING"]
    assert credential == sentinel_env()["PREFECT_AUTH_STRING"]
    for name in ("bootstrap", "worker", "maintenance", "gateway"):
        assert environment(services[name])["PREFECT_API_AUTH_STRING"] == credential, name
    server_env = environment(services["prefect-server"])
    assert server_env["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"].endswith(".filesystem")
    assert mounts(services["prefect-server"])[server_env["PREFECT_HOME"]] == "prefect-home"


def test_nothing_published_beyond_loopback(rendered: dict[str, Any]) -> None:
    published = {name: ports(service) for name, service in rendered["services"].items()}
    assert any(published.values())
    for name, service_ports in published.items():
        for host_ip, port in service_ports:
            assert host_ip == LOOPBACK, f"{name} publishes {port} on {host_ip}"


def test_secrets_come_from_variables(rendered: dict[str, Any]) -> None:
    """Every password, key and credential-bearing URL is a sentinel value of the env file."""
    sentinels = {value for name, value in sentinel_env().items() if name != "DOCKER_GID"}
    checked = 0
    for name, service in rendered["services"].items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key) or key == "PGPASSWORD":
                assert any(s in value for s in sentinels), f"{name}: {key} is a literal"
                checked += 1
    assert checked >= 10
    text = COMPOSE_FILE.read_text()
    for placeholder in ("changeme", "minioadmin"):
        assert placeholder not in text


REQUIRED = [n for n in example_env() if SECRET_KEY.search(n) or n == "DOCKER_GID"]


@pytest.mark.parametrize(
    ("name", "missing"),
    [(n, "unset") for n in REQUIRED] + [("REELFLOW_STORAGE__S3_SECRET_KEY", "empty")],
)
def test_config_fails_without_a_required_secret(tmp_path: Path, name: str, missing: str) -> None:
    env = sentinel_env()
    if missing == "unset":
        del env[name]
    else:
        env[name] = ""
    done = run_config(write_env(tmp_path / "env", env))
    assert done.returncode != 0, f"config passed without {name}"
    # 1.29: "Missing mandatory value ... in service "x": <msg>"; v2: "required variable ...: <msg>"
    assert f"set {name} in infra/deploy/.env" in done.stdout + done.stderr


def _script_env(tmp_path: Path, fake: str, body: str, **env: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / fake).write_text(body)
    (bin_dir / fake).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": str(tmp_path), **env}


def _run_script(
    script: str, tmp_path: Path, fake: str, body: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``sh script`` with a fake ``fake`` command first on PATH."""
    return subprocess.run(
        ["sh", script],
        env=_script_env(tmp_path, fake, body, **env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_minio_setup_script(tmp_path: Path) -> None:
    log = tmp_path / "mc.log"
    fake_mc = f'#!/bin/sh\necho "$*" >> {log}\n'
    secrets = {
        "MINIO_ROOT_USER": "admin-user",
        "MINIO_ROOT_PASSWORD": "root-password-1",
        "REELFLOW_STORAGE__S3_ACCESS_KEY": "reelflow-app",
        "REELFLOW_STORAGE__S3_SECRET_KEY": "app-secret-1",
    }
    script = str(COMPOSE_DIR / "minio-setup.sh")
    done = _run_script(script, tmp_path, "mc", fake_mc, **secrets)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    assert calls[:3] == [
        "alias set reelflow http://minio:9000 admin-user root-password-1",
        "mb --ignore-existing reelflow/reelflow",
        "anonymous set none reelflow/reelflow",
    ]
    assert "admin policy attach reelflow reelflow-bucket-rw --user reelflow-app" in calls
    assert not list(tmp_path.glob("reelflow-bucket-rw*"))  # its policy file is not left behind

    # Placeholders from env.example are refused before MinIO is touched.
    log.unlink()
    placeholder = {**secrets, "REELFLOW_STORAGE__S3_SECRET_KEY": "changeme"}
    done = _run_script(script, tmp_path, "mc", fake_mc, **placeholder)
    assert done.returncode == 1
    assert "REELFLOW_STORAGE__S3_SECRET_KEY is empty or a placeholder" in done.stderr
    assert not log.exists()


@pytest.mark.parametrize(
    ("prefect_pw", "reelflow_pw", "ok"),
    [("a1b2c3d4", "e5f6a7b8", True), ("changeme", "e5f6a7b8", False), ("a1b2c3d4", "", False)],
)
def test_postgres_entrypoint_refuses_placeholders(
    tmp_path: Path, prefect_pw: str, reelflow_pw: str, ok: bool
) -> None:
    fake = '#!/bin/sh\necho "initialising $*"\n'
    done = subprocess.run(
        ["sh", str(COMPOSE_DIR / "postgres-entrypoint.sh"), "postgres"],
        env=_script_env(
            tmp_path,
            "docker-entrypoint.sh",
            fake,
            POSTGRES_PASSWORD=prefect_pw,
            REELFLOW_DB_PASSWORD=reelflow_pw,
        ),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if ok:
        assert (done.returncode, done.stdout) == (0, "initialising postgres\n")
    else:
        assert done.returncode == 1 and "is empty or a placeholder" in done.stderr
        assert "initialising" not in done.stdout


def test_scripts_parse() -> None:
    for script in sorted(COMPOSE_DIR.glob("*.sh")):
        done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"


def test_job_secrets_script_writes_what_the_deployment_reads(tmp_path: Path) -> None:
    """Each *_FILE of the Docker deployment names a file the script writes, readable by the
    job's group only, holding what reelflow's settings then read."""
    secrets = {
        "REELFLOW_STORAGE__S3_ACCESS_KEY": "reelflow-app",
        "REELFLOW_STORAGE__S3_SECRET_KEY": "app-secret-1",
        "REELFLOW_DB_PASSWORD": "e5f6a7b8",
    }
    out = tmp_path / "secrets"
    script = str(COMPOSE_DIR / "job-secrets.sh")
    env = {"SECRETS_DIR": str(out), "JOB_GID": str(os.getgid()), **secrets}
    done = _run_script(script, tmp_path, "true", "#!/bin/sh\n", **env)
    assert done.returncode == 0, done.stderr
    deployment = next(
        d
        for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
        if d["name"] == "video-job-docker"
    )
    job_env = deployment["work_pool"]["job_variables"]["env"]
    files = {k: v for k, v in job_env.items() if k.endswith("_FILE")}
    assert len(files) == 3
    from infra.settings.secret_files import read_secret_files

    in_host = {k: str(out / Path(v).name) for k, v in files.items()}
    values = read_secret_files(in_host)
    assert values["storage"]["s3_secret_key"] == "app-secret-1"
    assert values["storage"]["s3_access_key"] == "reelflow-app"
    assert values["ledger"]["url"] == (
        "postgresql+psycopg2://reelflow:e5f6a7b8@127.0.0.1:5432/reelflow"
    )
    for path in out.iterdir():
        assert path.stat().st_mode & 0o777 == 0o440, path

    placeholder = {**env, "REELFLOW_DB_PASSWORD": "changeme"}
    done = _run_script(script, tmp_path, "true", "#!/bin/sh\n", **placeholder)
    assert done.returncode == 1 and "REELFLOW_DB_PASSWORD" in done.stderr
