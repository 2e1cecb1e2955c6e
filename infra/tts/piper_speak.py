"""``python -m infra.tts.piper_speak MODEL CONFIG LENGTH_SCALE THREADS TEXT:WAV...``: one Piper
process speaks several slides with one model load.

Run by infra/tts/piper.py through the process runner (deadlines, stop on cancel, the job's memory
guard): each WAV is written to a temp name and renamed when complete, and a line ``spoke N`` is
printed after each one, which is the runner's sign of progress. Exit 2 on bad arguments, 1 on a
synthesis error (the message on stderr).
"""

from __future__ import annotations

import os
import sys
import wave
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) < 5:
        sys.stderr.write("usage: piper_speak MODEL CONFIG LENGTH_SCALE THREADS TEXT:WAV...\n")
        return 2
    model, config, length_scale, threads, *pairs = argv
    import json

    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    voice = PiperVoice(
        session=onnxruntime.InferenceSession(
            model, sess_options=options, providers=["CPUExecutionProvider"]
        ),
        config=PiperConfig.from_dict(json.loads(Path(config).read_text(encoding="utf-8"))),
        download_dir=Path.cwd(),
    )
    syn = SynthesisConfig(length_scale=float(length_scale))
    for n, pair in enumerate(pairs, start=1):
        text_file, _, wav_path = pair.partition(":")
        text = Path(text_file).read_text(encoding="utf-8")
        tmp = Path(f"{wav_path}.part")
        try:
            with wave.open(str(tmp), "wb") as out:
                voice.synthesize_wav(text, out, syn_config=syn)
            os.replace(tmp, wav_path)
        finally:
            tmp.unlink(missing_ok=True)
        sys.stdout.write(f"spoke {n}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
