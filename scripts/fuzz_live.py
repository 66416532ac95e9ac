"""Fuzz a live server on 127.0.0.1 for a bounded time and count the 5xx answers.

    .venv/bin/python scripts/fuzz_live.py --minutes 30 [--seed 1] [--log fuzz-5xx.log]

It builds a scratch site (SQLite and media in a temporary folder, never the dev data) with
real media owned by a user (a song, a clip with its poster, a character image, a project with
scenes), starts gunicorn with DEBUG off on a free loopback port, and until the time is up sends
generated requests, one after another (with ``--paid`` the site prices and budgets every request
as with Replicate, at an address nobody answers):

- every JSON endpoint of the API with bodies made of the endpoint's own field names and hostile
  values (huge and tiny numbers, NaN, lone surrogates, deep nesting, wrong types, megabyte
  strings, ids of other rows), plus raw bodies that are no JSON at all, under several
  Content-Types;
- every page form and HTMX post (with the session and its CSRF token), and the pages' GETs with
  junk query strings;
- headers: Range on every media URL (thousands of digits, several ranges, negatives), Content-Type,
  X-API-Key, HX-Request, X-Forwarded-For;
- the Replicate webhook: bodies signed with the site's secret (so they reach the parser) and
  unsigned, nested, huge or malformed ones.

Every answer of 500 or more (and every dropped connection) is counted and written to the log with
the request that caused it; the server's own error log is scanned for tracebacks too. The exit
status is 1 when there was any. The run is offline: the provider is the local renderer and no
worker runs, so nothing is paid for and nothing is rendered.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


# --- values ---------------------------------------------------------------------------------

def hostile_value(rng: random.Random, ids: list[str], depth: int = 0):
    pick = rng.random()
    if pick < 0.12:
        return rng.choice([None, True, False, 0, -1, 1, 2**31, 2**63, -(2**63), 10**30, 0.5, -0.0, 1e-7, 1e308, -1e308])
    if pick < 0.2:
        return rng.choice(["nan", "inf", "-inf", "1e999", "0x10", "１２", "", " ", "\x00", "a\u0301", "٣"])
    if pick < 0.3:
        return rng.choice(ids) if ids else str(uuid.uuid4())
    if pick < 0.36:
        return str(uuid.uuid4())
    if pick < 0.46:
        return rng.uniform(-100, 100) if rng.random() < 0.5 else rng.randint(-5, 50)
    if pick < 0.56:
        return "".join(rng.choice("ab c\n\t<>&'\"%{}\\/é漢🎵") for _ in range(rng.randint(0, 40)))
    if pick < 0.6:
        return "x" * rng.choice([5001, 20001, 300_000])
    if pick < 0.66:
        return rng.choice(["default", "mv1", "../default", "DEFAULT", "a" * 65, "no such", "16:9", "9:16", "1:1",
                           "music_video", "http://127.0.0.1:1/x.mp3", "file:///etc/passwd",
                           "http://[::ffff:127.0.0.1]/a", "https://example.com/song.mp3", "%{pts}"])
    if pick < 0.74 and depth < 3:
        return [hostile_value(rng, ids, depth + 1) for _ in range(rng.randint(0, 4))]
    if pick < 0.8 and depth < 3:
        return {rng.choice(["a", "id", "start", ""]): hostile_value(rng, ids, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.random() * rng.choice([1, 10, 1000, 1e6])


RAW_BODIES = [
    b"", b"{", b"[]", b"null", b"1", b'"x"', b"\xff\xfe\x00", b'{"a": NaN}', b'{"a": Infinity}',
    b'{"a": "\\ud800"}', b"{" * 50_000, b"[" * 100_000 + b"]" * 100_000, b'{"a": 1' + b"0" * 5000 + b"}",
    b'{"a": ' + b"9" * 5000 + b"}", b'{"a": 1e99999}', b"\x00" * 100, b'{"a":1,"a":2}',
]


def json_body(rng: random.Random, fields: list[str], ids: list[str]) -> bytes:
    if rng.random() < 0.15:
        return rng.choice(RAW_BODIES)
    body = {name: hostile_value(rng, ids) for name in fields if rng.random() < 0.7}
    if rng.random() < 0.1:
        body[rng.choice(["", "__proto__", "x" * 300])] = hostile_value(rng, ids)
    text = json.dumps(body, allow_nan=True)
    if rng.random() < 0.1:  # a lone surrogate as JSON writes it
        text = text.replace("a", "\\ud800", 1)
    return text.encode()


def range_header(rng: random.Random) -> str:
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    return rng.choice([
        f"bytes={digits(5000)}-", f"bytes=0-{digits(5000)}", f"bytes=-{digits(5000)}", f"bytes={digits(30)}-{digits(3)}",
        "bytes=0-0", "bytes=-0", "bytes=5-1", "bytes=0-1,2-3", "bytes=--1", "bytes=1--2", "items=0-1", "bytes= 0-1",
        f"bytes={rng.randint(0, 10**6)}-{rng.randint(0, 10**6)}", "bytes=-", "bytes=0-\x00", "bytes=" + "0" * 6000 + "1-",
        f"bytes={rng.randint(0, 500)}-", "bytes=٣-",
    ])


CONTENT_TYPES = ["application/json", "application/json; charset=utf-16", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=xyz",
                 "application/json; charset=bogus", "", "*/*", "application/xml"]


# --- the site -------------------------------------------------------------------------------

def make_media(folder: Path) -> dict[str, Path]:
    from mv import media

    ffmpeg = media.ffmpeg_exe()
    song, clip, image = folder / "song.wav", folder / "clip.mp4", folder / "face.png"
    run = lambda *a: subprocess.run([ffmpeg, "-loglevel", "error", "-y", *a], check=True)  # noqa: E731
    run("-f", "lavfi", "-i", "sine=frequency=330:duration=20", "-ac", "2", str(song))
    run("-f", "lavfi", "-i", "testsrc=size=320x180:rate=24:duration=2", "-f", "lavfi", "-i", "sine=duration=2",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(clip))
    run("-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", str(image))
    return {"song": song, "clip": clip, "image": image}


def build_site(folder: Path) -> dict:
    """Rows with real files, owned by the fuzzing user (and one owned by somebody else)."""
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio, auth, files, flavors
    from mv.models import CharacterImage, JobStatus, Scene
    from mv.pipeline import projects, rendering

    made = make_media(folder)
    users = get_user_model().objects
    user = users.create_user("fuzzer", password="fuzz-pw-123456")
    other = users.create_user("someone-else", password="other-pw-123456")
    _, key = auth.create_key(user, "fuzz")
    track = audio.import_upload(user, SimpleUploadedFile("song.wav", made["song"].read_bytes()))
    track.analyze()
    clip = rendering.import_clip(user, made["clip"])
    image = CharacterImage(owner=user, description="a fox", status=JobStatus.SUCCEEDED, provider="local")
    files.store(image.file, made["image"], f"{image.pk}.png")
    image.save()
    project = projects.create_project(owner=user, video_description="fuzz", flavor=flavors.resolve("default"),
                                      number_of_scenes=3, audio_track=track)
    for position in range(3):
        Scene.objects.get_or_create(project=project, position=position,
                                    defaults={"description": f"scene {position}", "start": position * 5.0,
                                              "end": position * 5.0 + 5.0})
    scene = project.scenes.order_by("position").first()
    Scene.objects.filter(pk=scene.pk).update(current_clip=clip)
    clip.scene = scene
    clip.save(update_fields=["scene"])
    theirs = projects.create_project(owner=other, video_description="not yours", flavor=flavors.resolve("default"),
                                     number_of_scenes=1)
    return {"key": key, "track": str(track.pk), "clip": str(clip.pk), "image": str(image.pk),
            "project": str(project.pk), "scenes": [str(s) for s in project.scenes.values_list("pk", flat=True)],
            "theirs": str(theirs.pk)}


def session_cookie(port: int) -> tuple[str, str]:
    """Log in through the login page: (sessionid, csrftoken)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    page = response.read().decode()
    csrf = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "").group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urlencode({"username": "fuzzer", "password": "fuzz-pw-123456", "csrfmiddlewaretoken": token})
    conn.request("POST", "/accounts/login/", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                    "Cookie": f"csrftoken={csrf}", "Referer": f"http://127.0.0.1:{port}/"})
    response = conn.getresponse()
    response.read()
    session = re.search(r"sessionid=([^;]+)", response.getheader("Set-Cookie") or "")
    if response.status != 302 or session is None:
        raise RuntimeError(f"could not log in (HTTP {response.status})")
    csrf = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "")
    return session.group(1), csrf.group(1) if csrf else token


# --- the requests -----------------------------------------------------------------------------

API_JSON = {
    "/api/mv/create_scenes": ["idea", "character_description", "number_of_scenes", "config_flavor", "project_id",
                              "wait", "camera_angle", "video_type", "audio_id", "audio_start", "audio_end",
                              "aspect_ratio", "song_start", "song_end"],
    "/api/mv/generate_video": ["prompt", "negative_prompt", "aspect_ratio", "duration", "generate_audio", "seed",
                               "character_reference_id", "config_flavor", "scene_id", "wait"],
    "/api/mv/lipsync": ["video_id", "audio_id", "start_time", "end_time", "temperature", "wait", "video_url",
                        "occlusion_detection_enabled", "active_speaker_detection"],
    "/api/mv/retry_video": ["video_id", "wait"],
    "/api/mv/cancel_video": ["video_id", "wait"],
    "/api/mv/stitch-videos": ["video_ids", "audio_overlay_id", "audio_start", "suppress_video_audio", "wait"],
    "/api/mv/generate_character_reference": ["character_description", "num_images", "config_flavor", "seed",
                                             "aspect_ratio", "wait"],
    "/api/audio/download": ["url"],
    "/api/audio/trim": ["audio_id", "start_at", "end_at"],
}


def page_forms(site: dict) -> dict[str, list[str]]:
    scene = site["scenes"][0]
    project = site["project"]
    return {
        "/create/submit/": ["mode", "config_flavor", "audio_track_id", "audio_start", "song_end", "video_description",
                            "character_description", "character_image_id", "number_of_scenes", "aspect_ratio"],
        "/create/audio/url/": ["url"],
        "/create/characters/": ["character_description", "config_flavor", "aspect_ratio", "num_images"],
        f"/songs/{site['track']}/lyrics/": ["lyrics"],
        f"/quick-gen/{project}/flavor/": ["config_flavor"],
        f"/quick-gen/{project}/rename/": ["title"],
        f"/quick-gen/{project}/restitch/": [],
        f"/quick-gen/{project}/duplicate/": [],
        f"/quick-gen/{project}/bring-up-to-date/": [],
        f"/scenes/{scene}/prompt/": ["description", "negative_description"],
        f"/scenes/{scene}/regenerate/": ["lipsync", "description", "negative_description"],
        f"/scenes/{scene}/rewrite/": [],
        f"/scenes/{scene}/split/": ["at"],
        f"/scenes/{scene}/move/": ["position", "to"],
        f"/scenes/{scene}/boundary/": ["at", "side", "time"],
        f"/clips/{site['clip']}/retry/": [],
        f"/clips/{site['clip']}/cancel/": [],
        f"/clips/{site['clip']}/make-current/": [],
        "/accounts/login/": ["username", "password"],
    }


def page_gets(site: dict) -> list[str]:
    return ["/", "/create/", "/create/estimate/", "/create/audio/", "/create/characters/status/",
            f"/quick-gen/{site['project']}/", f"/quick-gen/{site['theirs']}/", f"/songs/{site['track']}/status/",
            f"/scenes/{site['scenes'][0]}/clip/status/", f"/scenes/{site['scenes'][0]}/prompt/status/",
            "/api/mv/get_config_flavors", f"/api/mv/projects/{site['project']}", f"/api/audio/{site['track']}/analysis",
            f"/api/mv/get_video/{site['clip']}/info", "/api/nope", "/static/../../etc/passwd", "/admin/"]


def media_urls(site: dict) -> list[str]:
    return [f"/api/mv/get_video/{site['clip']}", f"/api/mv/get_video/{site['clip']}/poster",
            f"/api/audio/get/{site['track']}", f"/api/audio/waveform/{site['track']}",
            f"/api/mv/get_character_reference/{site['image']}"]


def sign(body: bytes) -> dict[str, str]:
    webhook_id, stamp = "msg_" + secrets.token_hex(8), str(int(time.time()))
    key = base64.b64decode(SECRET.split("_", 1)[1])
    digest = hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": webhook_id, "webhook-timestamp": stamp, "webhook-signature": "v1," + base64.b64encode(digest).decode()}


def webhook_body(rng: random.Random, ids: list[str]) -> bytes:
    choice = rng.random()
    if choice < 0.3:
        return rng.choice(RAW_BODIES)
    payload = {"id": rng.choice([*ids, "x", "", "a" * 300]), "status": rng.choice(["succeeded", "failed", "canceled",
                                                                                  "processing", "aborted", 5, None]),
               "output": hostile_value(rng, ids), "error": hostile_value(rng, ids), "logs": hostile_value(rng, ids),
               "metrics": {"predict_time": hostile_value(rng, ids)}, "model": "x", "version": "y", "input": {},
               "created_at": "2026-01-01T00:00:00Z", "urls": {}}
    if choice < 0.4:
        payload["output"] = "[" * 3000
        return json.dumps(payload).replace('"' + "[" * 3000 + '"', "[" * 3000 + "]" * 3000).encode()
    return json.dumps({k: v for k, v in payload.items() if rng.random() < 0.85}, allow_nan=True).encode()


class Fuzzer:
    def __init__(self, port: int, site: dict, cookie: str, csrf: str, seed: int, log: Path) -> None:
        self.port, self.site, self.rng = port, site, random.Random(seed)
        self.cookie, self.csrf = cookie, csrf
        self.ids = [site["track"], site["clip"], site["image"], site["project"], site["theirs"], *site["scenes"]]
        self.forms, self.gets, self.media = page_forms(site), page_gets(site), media_urls(site)
        self.statuses: Counter = Counter()
        self.by_kind: Counter = Counter()
        self.failures: list[str] = []
        self.log = log
        self.conn: http.client.HTTPConnection | None = None

    def send(self, kind: str, method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.conn.putrequest(method, url, skip_accept_encoding=True)
                for name, value in headers.items():
                    self.conn.putheader(name, value)
                self.conn.putheader("Content-Length", str(len(body)))
                self.conn.endheaders(body)
                response = self.conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                break
            except (UnicodeEncodeError, ValueError, http.client.HTTPException) as exc:
                if isinstance(exc, http.client.RemoteDisconnected):
                    self.conn.close()
                    self.conn = None
                    if attempt == 2:
                        status = 599
                        headers["x-fuzz-error"] = exc.__class__.__name__
                    continue
                self.conn.close()  # http.client would not send it: a fresh connection for the next one
                self.conn = None
                raise
            except (BrokenPipeError, ConnectionResetError) as exc:
                self.conn.close()
                self.conn = None
                if attempt == 2:  # the server dropped the request twice: as bad as a 500
                    status = 599
                    headers["x-fuzz-error"] = exc.__class__.__name__
        self.statuses[status] += 1
        self.by_kind[kind] += 1
        if status >= 500:
            shown = body[:300].decode("utf-8", "replace")
            record = f"{status} {kind} {method} {url[:200]} headers={ {k: v[:80] for k, v in headers.items()} } body={shown!r}"
            self.failures.append(record)
            with open(self.log, "a") as fh:
                fh.write(record + "\n")

    # one request of each family
    def api_json(self) -> None:
        url = self.rng.choice(list(API_JSON))
        auth = self.auth_headers()
        ctype = "application/json" if self.rng.random() < 0.85 else self.rng.choice(CONTENT_TYPES)
        self.send("api-json", "POST", url, json_body(self.rng, API_JSON[url], self.ids), auth | {"Content-Type": ctype})

    def api_ids(self) -> None:
        template = self.rng.choice(["/api/mv/projects/{}", "/api/mv/projects/{}/stop", "/api/mv/projects/{}/restitch",
                                    "/api/mv/get_video/{}/info", "/api/audio/{}/analysis", "/api/audio/{}/lyrics",
                                    "/api/mv/scenes/{}/split", "/api/mv/scenes/{}/duplicate", "/api/mv/scenes/{}/move",
                                    "/api/mv/scenes/{}/boundary", "/api/mv/projects/{}/bring_up_to_date"])
        ident = self.rng.choice([*self.ids, str(uuid.uuid4()), "not-a-uuid", "%00", "..%2F.."])
        method = self.rng.choice(["GET", "POST", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"])
        fields = ["lyrics", "at", "position", "to", "side", "time", "wait", "start", "end"]
        self.send("api-ids", method, template.format(ident), json_body(self.rng, fields, self.ids),
                  self.auth_headers() | {"Content-Type": "application/json"})

    def media_range(self) -> None:
        url = self.rng.choice(self.media) + self.rng.choice(["", "?download=1", "?download=%00"])
        self.send("range", self.rng.choice(["GET", "GET", "HEAD"]), url, b"",
                  self.auth_headers() | {"Range": range_header(self.rng)})

    def page_form(self) -> None:
        url = self.rng.choice(list(self.forms))
        data = {name: str(hostile_value(self.rng, self.ids))[:30000] for name in self.forms[url] if self.rng.random() < 0.8}
        data = {k: v.replace("\x00", "") if self.rng.random() < 0.5 else v for k, v in data.items()}
        if url != "/accounts/login/" or self.rng.random() < 0.5:
            data["csrfmiddlewaretoken"] = self.csrf
        body = urlencode(data, errors="surrogatepass").encode("utf-8", "surrogatepass")
        headers = {"Cookie": f"sessionid={self.cookie}; csrftoken={self.csrf}", "X-CSRFToken": self.csrf,
                   "Referer": f"http://127.0.0.1:{self.port}/",
                   "Content-Type": "application/x-www-form-urlencoded" if self.rng.random() < 0.85
                   else self.rng.choice(CONTENT_TYPES)}
        if url == "/accounts/login/":
            headers.pop("Cookie")
            headers["Cookie"] = f"csrftoken={self.csrf}"
        if self.rng.random() < 0.6:
            headers["HX-Request"] = "true"
        self.send("page-form", "POST", url, body, headers)

    def page_get(self) -> None:
        url = self.rng.choice(self.gets)
        query = {name: str(hostile_value(self.rng, self.ids))[:2000] for name in
                 ("number_of_scenes", "config_flavor", "audio_track_id", "audio_start", "song_end", "mode", "page",
                  "download", "next") if self.rng.random() < 0.4}
        url += ("?" + urlencode(query, errors="surrogatepass")) if query else ""
        headers = {"Cookie": f"sessionid={self.cookie}"} if self.rng.random() < 0.9 else {}
        if self.rng.random() < 0.5:
            headers["HX-Request"] = self.rng.choice(["true", "false", "\x7f"])
        self.send("page-get", "GET", url, b"", headers)

    def upload(self) -> None:
        url = self.rng.choice(["/api/audio/upload", "/create/audio/upload/"])
        boundary = "fuzz" + secrets.token_hex(4)
        content = self.rng.choice([b"", b"ID3" + os.urandom(200), b"#EXTM3U\nfile:///etc/passwd\n",
                                   b"ffconcat version 1.0\nfile /etc/passwd\n", os.urandom(3000),
                                   b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(100)])
        name = self.rng.choice(["song.mp3", "x.m3u8", "../../a.wav", "", "a\x00.mp3", "漢.flac"])
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                f"Content-Type: audio/mpeg\r\n\r\n").encode("utf-8", "replace") + content + f"\r\n--{boundary}--\r\n".encode()
        if self.rng.random() < 0.2:
            body = body[: self.rng.randint(0, len(body))]  # cut short
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        if url.startswith("/api/"):
            headers |= self.auth_headers()
        else:
            headers |= {"Cookie": f"sessionid={self.cookie}; csrftoken={self.csrf}", "X-CSRFToken": self.csrf,
                        "Referer": f"http://127.0.0.1:{self.port}/", "HX-Request": "true"}
        self.send("upload", "POST", url, body, headers)

    def webhook(self) -> None:
        body = webhook_body(self.rng, self.ids)
        headers = {"Content-Type": "application/json"}
        if self.rng.random() < 0.8:
            headers |= sign(body)
        elif self.rng.random() < 0.5:
            headers |= {"webhook-id": "x", "webhook-timestamp": "9" * 50, "webhook-signature": "v1,@@@"}
        self.send("webhook", "POST", "/api/replicate/webhook", body, headers)

    def headers_only(self) -> None:
        url = self.rng.choice(self.gets + self.media)
        headers = {self.rng.choice(["X-API-Key", "X-Forwarded-For", "Host", "Accept", "If-None-Match", "Cookie",
                                    "Accept-Language", "HX-Current-URL", "Content-Type"]):
                   self.rng.choice(["", "x" * 8000, "mv_" + "a" * 40, "127.0.0.1, ::1", "☃", "\t", "sessionid=;;;",
                                    "1.1.1.1, 2.2.2.2", "multipart/form-data; boundary=--", "mv_zz_zz"])}
        if "Host" in headers:
            headers["Host"] = self.rng.choice(["evil.example", "127.0.0.1:1", "[::1]", "x" * 300])
        headers.setdefault("Cookie", f"sessionid={self.cookie}")
        try:
            self.send("headers", self.rng.choice(["GET", "HEAD"]), url, b"", headers)
        except (UnicodeEncodeError, ValueError):
            pass  # http.client refuses to send it at all

    def auth_headers(self) -> dict[str, str]:
        pick = self.rng.random()
        if pick < 0.75:
            return {"X-API-Key": self.site["key"]}
        if pick < 0.85:
            return {"X-API-Key": self.rng.choice(["wrong", "mv_000000000000_x", "mv_", "", "x" * 5000])}
        return {"Cookie": f"sessionid={self.cookie}; csrftoken={self.csrf}", "X-CSRFToken": self.csrf,
                "Referer": f"http://127.0.0.1:{self.port}/"}

    def run(self, seconds: float) -> float:
        families = [(self.api_json, 30), (self.api_ids, 10), (self.media_range, 12), (self.page_form, 18),
                    (self.page_get, 10), (self.upload, 4), (self.webhook, 10), (self.headers_only, 6)]
        actions = [f for f, weight in families for _ in range(weight)]
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            try:
                self.rng.choice(actions)()
            except (UnicodeEncodeError, ValueError, http.client.HTTPException) as exc:
                self.statuses[f"not sent ({exc.__class__.__name__})"] += 1
        return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, required=True, help="how long to fuzz (the set-up comes on top)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log", type=Path, default=Path("fuzz-5xx.log"), help="where each 5xx is written")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes")
    parser.add_argument("--paid", action="store_true",
                        help="the Replicate provider (at an address nobody answers) with a $5 daily budget and a cap "
                             "of 1, so requests go through pricing and the budget (402s); still nothing is paid")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="mv-fuzz-"))
    env = {"DJANGO_SETTINGS_MODULE": "mvsite.settings", "MV_SQLITE_PATH": str(scratch / "fuzz.sqlite3"),
           "MEDIA_ROOT": str(scratch / "media"), "MV_MANIFEST_STATIC": "false", "DEBUG": "false",
           "SECRET_KEY": secrets.token_urlsafe(50), "MV_PROVIDER": "local", "REPLICATE_API_TOKEN": "r8_fuzz",
           "REPLICATE_BASE_URL": "http://127.0.0.1:9", "REPLICATE_WEBHOOK_SECRET": SECRET,
           "MV_LOGIN_FAILURE_LIMIT": "1000000",  # guessing is part of the fuzz; a lockout would hide the rest
           "MV_MAX_WAIT_SECONDS": "0", "MV_TASKS_BACKEND": "db"}
    if args.paid:  # requests are priced and budgeted; no worker runs, so no prediction is ever sent
        env |= {"MV_PROVIDER": "replicate", "MV_USER_DAILY_BUDGET_USD": "5", "MV_USER_MAX_ACTIVE_PREDICTIONS": "1"}
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    site = build_site(scratch)
    from bench.common import free_port, wait_port

    port = free_port()
    env_server = {**os.environ, "MV_PUBLIC_URL": f"http://127.0.0.1:{port}", "ALLOWED_HOSTS": "127.0.0.1,localhost"}
    errors = scratch / "server-errors.log"  # gunicorn's log and the app's (Django logs each 500 with its traceback)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "mvsite.wsgi", "-b", f"127.0.0.1:{port}",
                               "-w", str(args.workers), "--threads", "2", "--timeout", "120", "--log-level", "warning"],
                              cwd=ROOT, env=env_server, stdout=subprocess.DEVNULL, stderr=open(errors, "wb"))  # noqa: SIM115
    args.log.unlink(missing_ok=True)
    try:
        wait_port(port, timeout=60)
        cookie, csrf = session_cookie(port)
        fuzzer = Fuzzer(port, site, cookie, csrf, args.seed, args.log)
        ran = fuzzer.run(args.minutes * 60)
    finally:
        server.terminate()
        server.wait(30)
    log_text = errors.read_text(errors="replace") if errors.exists() else ""
    # Django logs a refused body (400) with its traceback too: count what was a server error
    tracebacks = sum(log_text.count(marker) for marker in ("Internal Server Error", "WORKER TIMEOUT",
                                                            "Exception in worker process"))
    total = sum(v for k, v in fuzzer.statuses.items() if isinstance(k, int))
    five = sum(v for k, v in fuzzer.statuses.items() if isinstance(k, int) and k >= 500)
    print(f"fuzzed {ran / 60:.1f} min against gunicorn on 127.0.0.1: {total} requests "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(fuzzer.by_kind.items()))})")
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(fuzzer.statuses.items(), key=lambda kv: str(kv[0]))))
    print(f"5xx answers (or dropped connections): {five}; server errors in the server's log: {tracebacks}")
    for record in fuzzer.failures[:20]:
        print("  " + record)
    if tracebacks:
        shutil.copyfile(errors, args.log.with_suffix(".server.log"))
        print(f"server error log kept in {args.log.with_suffix('.server.log')}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 1 if five or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
