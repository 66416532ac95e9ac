"""Peak memory while stitching 50 clips against stitching 5: flat, not growing with clips."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import ROOT, SCRATCH, Row

CHILD = r"""
import json, os, resource, sys
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mvsite.settings")
import django; django.setup()
from pathlib import Path
from mv import media
folder = Path(sys.argv[2]); n = int(sys.argv[3])
clips = [folder / f"c{i % 5}.mp4" for i in range(n)]
work = folder / f"work{n}"; work.mkdir(exist_ok=True)
media.stitch(clips, folder / f"out{n}.mp4", audio=folder / "song.m4a", workdir=work)
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"self": self_kb / 1024, "children": child_kb / 1024}))
"""


def run(args) -> list[Row]:
    from mv import media

    folder = SCRATCH / "memory"
    folder.mkdir(exist_ok=True)
    for i in range(5):
        media.run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24:duration=4", "-c:v", "libx264",
                          "-preset", "ultrafast", "-pix_fmt", "yuv420p", folder / f"c{i}.mp4"])
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=240", "-ac", "2", "-c:a", "aac", folder / "song.m4a"])
    peaks = {}
    for n in (5, 50):
        out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(folder), str(n)], capture_output=True, text=True,
                             check=True)
        peaks[n] = json.loads(out.stdout.strip().splitlines()[-1])
    grow_py = peaks[50]["self"] - peaks[5]["self"]
    grow_ff = peaks[50]["children"] - peaks[5]["children"]
    return [Row("memory", "peak RSS stitching 50 clips (python / ffmpeg)",
                f"{peaks[50]['self']:.0f} / {peaks[50]['children']:.0f} MB",
                f"5 clips: {peaks[5]['self']:.0f} / {peaks[5]['children']:.0f} MB",
                f"+{grow_py:.1f} / +{grow_ff:.1f} MB", "within 20 MB", grow_py <= 20 and grow_ff <= 20)]
