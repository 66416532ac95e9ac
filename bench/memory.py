"""Peak memory of each process itself while stitching 50 clips against 5: flat, not growing
with the clips (the copy in the worker's own process, then the same stitch by an ffmpeg process). Measured as each process's own high-water mark (VmHWM in /proc/<pid>/status,
which starts afresh at exec), not ru_maxrss, which Linux carries across fork and exec and so
reported the bench's own size. Controls that do grow with n (a Python process holding n MB,
an ffmpeg `reverse` filter buffering n frames) show the measure sees growth."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import ROOT, SCRATCH, Row

BAR_MB = 20

CHILD = r"""
import json, os, subprocess, sys, threading, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mvsite.settings")
import django; django.setup()
from pathlib import Path
from mv import media

def hwm(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0

ffmpeg_peak = [0.0]
real_run = subprocess.run

def watched_run(cmd, **kwargs):  # media.run_ffmpeg's subprocess.run, with the child's own peak sampled
    kwargs.pop("capture_output", None); timeout = kwargs.pop("timeout", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
    out = []
    reader = threading.Thread(target=lambda: out.append(proc.communicate(timeout=timeout)))
    reader.start()
    while reader.is_alive():
        ffmpeg_peak[0] = max(ffmpeg_peak[0], hwm(proc.pid))
        time.sleep(0.002)
    reader.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, *out[0])

subprocess.run = watched_run
folder = Path(sys.argv[2]); n = int(sys.argv[3]); mode = sys.argv[4]
if mode == "stitch":
    clips = [folder / f"c{i % 5}.mp4" for i in range(n)]
    work = folder / f"work{n}"; work.mkdir(exist_ok=True)
    media.stitch(clips, folder / f"out{n}.mp4", audio=folder / "song.m4a", workdir=work)  # the copy in-process
    media.stitch(clips, folder / f"out{n}.mp4", audio=folder / "song.m4a", workdir=work, in_process=False)  # by ffmpeg
else:  # the control: memory that grows with n in both processes
    held = bytearray(n * 1024 * 1024); held[::4096] = b"x" * len(held[::4096])
    media.run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=24:duration={n / 24}", "-vf", "reverse",
                      "-f", "null", "-"])
print(json.dumps({"self": hwm("self"), "ffmpeg": ffmpeg_peak[0]}))
"""


def _peaks(folder, n: int, mode: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(folder), str(n), mode], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args) -> list[Row]:
    from mv import media

    folder = SCRATCH / "memory"
    folder.mkdir(exist_ok=True)
    for i in range(5):
        media.run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24:duration=4", "-c:v", "libx264",
                          "-preset", "ultrafast", "-pix_fmt", "yuv420p", folder / f"c{i}.mp4"])
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=240", "-ac", "2", "-c:a", "aac", folder / "song.m4a"])
    small, large = _peaks(folder, 5, "stitch"), _peaks(folder, 50, "stitch")
    c_small, c_large = _peaks(folder, 5, "control"), _peaks(folder, 200, "control")
    grow = {k: large[k] - small[k] for k in ("self", "ffmpeg")}
    c_grow = {k: c_large[k] - c_small[k] for k in ("self", "ffmpeg")}
    return [
        Row("memory", "own peak RSS stitching 50 clips (python, copying in-process / ffmpeg)",
            f"{large['self']:.0f} / {large['ffmpeg']:.0f} MB", f"5 clips: {small['self']:.0f} / {small['ffmpeg']:.0f} MB",
            f"+{grow['self']:.1f} / +{grow['ffmpeg']:.1f} MB", f"within {BAR_MB} MB", max(grow.values()) <= BAR_MB),
        Row("memory", "control that grows: n MB held, ffmpeg reverse of n frames (5 -> 200)",
            f"{c_large['self']:.0f} / {c_large['ffmpeg']:.0f} MB", f"5: {c_small['self']:.0f} / {c_small['ffmpeg']:.0f} MB",
            f"+{c_grow['self']:.1f} / +{c_grow['ffmpeg']:.1f} MB", f"both grow > {BAR_MB} MB (the measure sees growth)",
            min(c_grow.values()) > BAR_MB),
    ]
