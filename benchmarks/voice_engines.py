"""espeak-ng vs Piper side by side: the same document job, job time and peak memory.

Each round runs one job per engine in its own child process, alternating: probe, script and render
(speech, slides, encode, HLS, captions) exactly as the video-job flow's stages do, under the job's
watchdog; Prefect's fixed per-run cost and the upload are the same for both engines and left
out. The parent samples the RSS of the child's whole process tree (Python + every espeak-ng,
Piper and ffmpeg process) every 20 ms. Medians are printed with the ratios Piper / espeak-ng.

    .venv/bin/python benchmarks/voice_engines.py [--source samples/sample.md] [--preset hd]
        [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MB = 1024 * 1024
ENGINES = ("espeak", "piper")


def child(source: Path, engine: str, preset: str, work: Path) -> None:
    """One job's probe, script and render in this process; prints a JSON line of figures."""
    from infra.jobs.limits import effective_limits
    from infra.jobs.models import JobLimits, JobRequest
    from infra.process.watchdog import JobWatchdog
    from infra.settings import get_settings
    from tasks.probe import inspect_document
    from tasks.render.document import render_document
    from tasks.script.extractive import write_script

    settings = get_settings()
    request = JobRequest(source=str(source), preset=preset, engine=engine)  # type: ignore[arg-type]
    started = time.perf_counter()
    doc = inspect_document(source, settings)
    script = write_script(doc, request.language, settings.script)
    scripted = time.perf_counter()
    with JobWatchdog(effective_limits(JobLimits(), settings), work) as guard:
        outputs = render_document(script, request, work, settings, guard)
    done = time.perf_counter()
    spoke = json.loads((work / "out" / "script.json").read_text())
    sys.stdout.write(
        json.dumps(
            {
                "job_s": done - started,
                "render_s": done - scripted,
                "narration_s": outputs.narration_s,
                "words": script.word_count,
                "slides": len(script.slides),
                "engine": spoke["voice_engine"],
            }
        )
        + "\n"
    )


def measure(source: Path, engine: str, preset: str, tmp: Path, n: int) -> dict[str, float]:
    import psutil

    work = tmp / f"{engine}-{n}"
    work.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            engine,
            "--source",
            str(source),
            "--preset",
            preset,
            "--work",
            str(work),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                return
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate(timeout=1800)
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{engine} job failed (exit {proc.returncode})")
    figures = json.loads(out.strip().splitlines()[-1])
    if figures["engine"] != engine:
        raise SystemExit(f"asked for {engine}, {figures['engine']} spoke")
    figures["peak_mb"] = peak / MB
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=ROOT / "samples" / "sample.md")
    parser.add_argument("--preset", default="hd")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.source.resolve(), args.child, args.preset, args.work)
        return

    tmp = Path(tempfile.mkdtemp(prefix="reelflow-voices-"))
    os.environ["REELFLOW_HOME"] = str(tmp / "home")
    os.environ["REELFLOW_INPUT__ROOTS"] = str(args.source.resolve().parent)
    results: dict[str, list[dict[str, float]]] = {e: [] for e in ENGINES}
    for n in range(args.rounds):
        for engine in ENGINES if n % 2 == 0 else ENGINES[::-1]:
            results[engine].append(measure(args.source.resolve(), engine, args.preset, tmp, n))

    def med(engine: str, key: str) -> float:
        return statistics.median(r[key] for r in results[engine])

    first = results["espeak"][0]
    print(
        f"\n{args.source.name}: {first['words']:.0f} words, {first['slides']:.0f} slides, "
        f"preset={args.preset}, rounds={args.rounds}, cores={os.cpu_count()}"
    )
    print(f"{'engine':>7} {'speech s':>8} {'job s':>7} {'render s':>8} {'peak MB':>8} {'RTF':>6}")
    for engine in ENGINES:
        print(
            f"{engine:>7} {med(engine, 'narration_s'):>8.1f} {med(engine, 'job_s'):>7.2f} "
            f"{med(engine, 'render_s'):>8.2f} {med(engine, 'peak_mb'):>8.0f} "
            f"{med(engine, 'narration_s') / med(engine, 'job_s'):>6.1f}"
        )
    print(
        f"piper/espeak: job time x{med('piper', 'job_s') / med('espeak', 'job_s'):.2f}, "
        f"peak memory x{med('piper', 'peak_mb') / med('espeak', 'peak_mb'):.2f}"
    )


if __name__ == "__main__":
    main()
