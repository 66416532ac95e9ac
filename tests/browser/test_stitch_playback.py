"""A stitch of trimmed clips in Chromium: each clip's part (copied up to its last copyable
cut, its last frames re-encoded) plays frame-exact at the seams, as PyAV decodes it."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from mv import media

pytestmark = pytest.mark.browser

SEAMS = [0, 39, 40, 41, 81, 82, 121]  # 41, 41 and 40 frames: the last and first frame of each clip


def clip(path: Path, hue: int) -> Path:
    media.run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=24:duration=2,hue=h={hue}", "-c:v", "libx264",
                      "-preset", "veryfast", "-crf", "26", *media.STITCHABLE, "-pix_fmt", "yuv420p", path])
    return path


def test_a_stitch_of_trimmed_clips_shows_each_seams_frames_in_chromium(_chromium, tmp_path):
    clips = [clip(tmp_path / f"c{i}.mp4", hue=60 * i) for i in range(3)]
    song = tmp_path / "song.m4a"
    media.run_ffmpeg(["-f", "lavfi", "-i", "sine=duration=10", "-ac", "2", "-c:a", "aac", song])
    result = media.stitch(clips, tmp_path / "out.mp4", audio=song, workdir=tmp_path, lengths=[1.7, 1.7, 1.7])
    assert result.in_process and result.frames == 122 and result.reencoded_frames > 0  # at least one smart cut
    with av.open(str(tmp_path / "out.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
    (tmp_path / "index.html").write_text(
        "<video id=v muted playsinline></video><canvas id=c width=320 height=180></canvas>"
        "<script>fetch('out.mp4').then(r => r.blob()).then(b => { v.src = URL.createObjectURL(b) })</script>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = _chromium.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        page.wait_for_function("() => document.getElementById('v').readyState >= 1", timeout=30000)
        assert page.evaluate("document.getElementById('v').duration") == pytest.approx(122 / 24, abs=0.01)
        shown = []
        for index in SEAMS:  # the middle of each frame's time, drawn as Chromium shows it
            pixels = page.evaluate("""async (t) => {
                const v = document.getElementById('v');
                await new Promise(r => { v.onseeked = r; v.currentTime = t; });
                await new Promise(r => { v.requestVideoFrameCallback(() => r()); setTimeout(r, 5000); });
                const c = document.getElementById('c').getContext('2d');
                c.drawImage(v, 0, 0, 320, 180);
                return Array.from(c.getImageData(0, 0, 320, 180).data);
            }""", (index + 0.5) / 24)
            image = np.array(pixels, dtype=np.int16).reshape(180, 320, 4)[:, :, :3]
            shown.append(int(np.argmin([np.abs(image - frame).mean() for frame in decoded])))
    finally:
        context.close()
        server.shutdown()
    assert shown == SEAMS
