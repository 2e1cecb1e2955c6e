"""The Docker work pool's base job template, locked: a run can set its limits and env, nothing else.

prefect-docker substitutes only the ``{{ placeholders }}`` that exist in ``job_configuration``; a
value written there as-is cannot be overridden by a deployment's or a flow run's job variables, and
``"additionalProperties": false`` makes Prefect's API refuse (422) any other variable when a
deployment or a run is created. So image, pull policy, network, mounts and ``privileged`` are
fixed here from the operator's settings, ``container_create_kwargs`` carries only the CPU quota
(nothing like ``cap_add``, ``devices``, ``mounts`` or ``pid_mode`` can reach ``containers.create``),
and the only variables are ``env``, ``name``, ``mem_limit``, ``memswap_limit`` and ``nano_cpus``.

A job container parses hostile files: it gets no Docker socket, no host mount but its read-only
secrets folder, and the network the operator chose (host networking on the build machines, whose
engine has no bridge; a jobs-only network in the production stack).
"""

from __future__ import annotations

from typing import Any

from infra.settings import Settings

__all__ = ["LOCKED_VARIABLES", "docker_base_job_template"]

SECRETS_MOUNT = "/run/secrets/reelflow"
LOCKED_VARIABLES = ("env", "name", "mem_limit", "memswap_limit", "nano_cpus")
_MEMORY = r"^[0-9]+[bkmg]?$"


def docker_base_job_template(settings: Settings) -> dict[str, Any]:
    """The locked template for the ``reelflow-docker`` pool, from ``REELFLOW_DOCKER__*``."""
    from prefect_docker.worker import DockerWorker

    cfg = settings.docker
    limits = settings.limits
    default = DockerWorker.get_default_base_job_template()
    properties = default["variables"]["properties"]
    memory = f"{limits.max_memory_mb or 2048}m"
    cpus = int((limits.max_cpu_percent or 200) / 100 * 1_000_000_000)
    variables = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "env": properties["env"],
            "name": properties["name"],
            "mem_limit": {
                "title": "Memory limit",
                "type": "string",
                "pattern": _MEMORY,
                "default": memory,
                "description": "Hard memory limit of the job's container (kernel-enforced).",
            },
            "memswap_limit": {
                "title": "Memory + swap limit",
                "type": "string",
                "pattern": _MEMORY,
                "default": memory,
                "description": "Equal to mem_limit: no swap beyond the memory limit.",
            },
            "nano_cpus": {
                "title": "CPU quota",
                "type": "integer",
                "minimum": 10_000_000,
                "maximum": cpus,
                "default": cpus,
                "description": "CPU quota in billionths of a core (1e9 = one core).",
            },
        },
    }
    job_configuration = {
        "command": None,  # Prefect's own `prefect flow-run execute`
        "env": {
            "PREFECT_API_URL": cfg.job_api_url,
            "REELFLOW_STORAGE__S3_ENDPOINT": cfg.job_s3_endpoint,
        },
        "labels": {"io.reelflow.role": "job"},
        "name": "{{ name }}",
        "image": cfg.image,
        "registry_credentials": None,
        "image_pull_policy": "Never",
        "networks": list(cfg.networks),
        "network_mode": cfg.network_mode or None,
        "auto_remove": True,
        "volumes": [f"{cfg.secrets_dir}:{SECRETS_MOUNT}:ro"],
        "stream_output": True,
        "mem_limit": "{{ mem_limit }}",
        "memswap_limit": "{{ memswap_limit }}",
        "privileged": False,
        "container_create_kwargs": {"nano_cpus": "{{ nano_cpus }}"},
    }
    return {"job_configuration": job_configuration, "variables": variables}
