"""A fake Replicate HTTP API on 127.0.0.1 for tests and benchmarks.

The real ``replicate==1.0.7`` client runs unchanged against it: predictions with a
starting -> processing -> succeeded/failed lifecycle, every create checked against the model's
published input schema (tests/fakes/schemas/, a 422 like Replicate's), file uploads, downloadable outputs
(real mp4s made with ffmpeg), Prefer: wait, cancel, the list of predictions (newest first,
paginated with ``next``, each with its model and input, as Replicate keeps them), and fault
injection (failures, 429/5xx with Retry-After, dropped connections, answers held after the
request was handled, predictions that never finish, outputs that 404 or are not video). Run in-process via ``FakeReplicate().start()`` or as a
process: ``python -m tests.fakes.replicate_server --port 8123 --latency 3``.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import email.policy
import hashlib
import json
import random
import re
import secrets
import ssl
import string
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import webhooks
from tests.fakes.model_schemas import problem_detail, schemas

TOKEN = "r8_test_token"
ALPHABET = string.ascii_lowercase + string.digits

# What the fake makes for each model it serves; each has its published input schema in
# tests/fakes/schemas/, which every create is checked against (model_schemas.py).
KINDS = {
    "openai/gpt-4o-mini": "llm",
    "google/veo-3.1": "video",
    "google/veo-3.1-fast": "video",
    "google/imagen-4": "image",
    "sync/lipsync-2-pro": "lipsync",
    "sync/lipsync-2": "lipsync",
    "openai/whisper": "transcription",
    "google/nano-banana": "image_edit",
    "cjwbw/demucs": "stems",
    "sakemin/all-in-one-music-structure-analyzer": "structure",
    "meta/musicgen": "music",
}
# What the fake's separation model answers: as the vocal stem, the song sent with its waveform
# inverted (same pitch and timing, so a slice of it is tellable from the same slice of the mix
# only by its sign: they correlate at -1); as the other stem, a low tone.
assert set(KINDS) == set(schemas()), "every model the fake serves needs a schema file, and only those"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Prediction:
    id: str
    model: str
    input: dict[str, Any]
    created: float
    queue_s: float
    run_s: float
    fail_error: str | None = None
    never_finish: bool = False
    canceled_at: float | None = None
    output: Any = None
    output_files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    held: bool = False  # stays "processing" until FakeReplicate.release()
    polls_to_finish: int | None = None  # finish after this many polls instead of after run_s
    polls: int = 0
    version: str = "hidden"  # official models; a community model's is its version id
    webhook: str | None = None  # where to send the signed "completed" webhook

    def status(self, now: float) -> str:
        if self.canceled_at is not None:
            return "canceled"
        if self.polls_to_finish is not None:  # counted in polls, not wall time: the same under any load
            if self.polls == 0:
                return "starting"
            if self.never_finish or self.held or self.polls < self.polls_to_finish:
                return "processing"
            return "failed" if self.fail_error else "succeeded"
        elapsed = now - self.created
        if elapsed < self.queue_s:
            return "starting"
        if self.never_finish or self.held or elapsed < self.queue_s + self.run_s:
            return "processing"
        return "failed" if self.fail_error else "succeeded"


class FakeReplicate:
    """The fake's state and knobs; the HTTP handler below serves it."""

    def __init__(self, *, token: str = TOKEN, latency: float = 0.05, seed: int = 1234) -> None:
        self.token = token
        self.latency = latency
        self.seed = seed
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="fake-replicate-"))
        self.webhook_secret = webhooks.new_secret()  # GET /v1/webhooks/default/secret
        self.reset()

    # --- knobs ---------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            for gate in getattr(self, "answer_gates", []):
                gate["event"].set()  # no handler thread stays blocked on a held answer
            self.rng = random.Random(self.seed)  # request faults (timing-dependent)
            self.fail_rng = random.Random(self.seed)  # prediction failures: deterministic per create
            self.predictions: dict[str, Prediction] = {}
            self.files: dict[str, tuple[bytes, str, str]] = {}  # id -> (bytes, name, content type)
            self.requests: list[dict[str, Any]] = []
            self.llm_responses: list[Any] = []  # str, or callable(input) -> str
            self.transcriptions: list[dict[str, Any]] = []  # outputs of the next transcriptions
            self.structures: list[Any] = []  # analysis JSONs of the next structure analyses
            self.invalid_creates: list[dict[str, Any]] = []  # creates refused by a model's schema (422)
            self.invalid_creates_expected = False  # the fixtures fail a test whose app sent an invalid input
            self.model_latency: dict[str, tuple[float, float]] = {}
            self.fail_queue: dict[str, list[str]] = {}
            self.http_errors: list[dict[str, Any]] = []
            self.drops: list[dict[str, Any]] = []
            self.never_finish_models: set[str] = set()
            self.output_404 = False
            self.output_not_video = False
            self.chaos: dict[str, float] = {}
            self.chaos_hits = 0  # faults the chaos mode injected (failed predictions, errors, drops)
            self.chaos_faults: list[tuple[str, str, str]] = []  # (kind, method, path) of each chaos fault
            self.held_models: set[str] = set()
            self.model_polls: dict[str, int] = {}
            self.dropped_responses: list[dict[str, Any]] = []  # requests handled, then the answer dropped
            self.webhooks_sent: list[tuple[str, str, int]] = []  # (prediction id, status sent, HTTP answer)
            self.list_page_size = 100  # GET /v1/predictions: Replicate's page holds 100
            self.answer_gates: list[dict[str, Any]] = []  # answers held until release_answers()

    def set_latency(self, model: str, *, queue_s: float = 0.0, run_s: float = 0.05, polls: int | None = None) -> None:
        """polls=N: predictions finish on their N-th poll, whatever the wall time (deterministic
        under load); otherwise after queue_s + run_s seconds."""
        self.model_latency[model] = (queue_s, run_s)
        if polls is None:
            self.model_polls.pop(model, None)
        else:
            self.model_polls[model] = polls

    def hold(self, model: str) -> None:
        """New predictions of `model` stay processing until release(): no wall-clock race."""
        with self.lock:
            self.held_models.add(model)

    def stop_holding(self, model: str) -> None:
        """New predictions of `model` run normally; those already held stay held until release()."""
        with self.lock:
            self.held_models.discard(model)

    def release(self, model: str | None = None, prediction_id: str | None = None) -> None:
        """Let held predictions finish: one, all of one model, or all."""
        with self.lock:
            if prediction_id is None and model:
                self.held_models.discard(model)
            elif prediction_id is None:
                self.held_models.clear()
            for prediction in self.predictions.values():
                if (prediction_id is None or prediction.id == prediction_id) and (model is None or prediction.model == model):
                    prediction.held = False

    def finished(self, prediction_id: str) -> bool:
        """Whether the provider reports the prediction done (succeeded, failed or canceled)."""
        with self.lock:
            return self.predictions[prediction_id].status(time.monotonic()) in {"succeeded", "failed", "canceled"}

    def hold_answers(self, method: str, path_regex: str) -> None:
        """Handle matching requests at once (a create creates its prediction) but hold each
        answer until release_answers(): the client waits on a call whose work is done."""
        with self.lock:
            self.answer_gates.append({"method": method, "path": re.compile(path_regex), "event": threading.Event(),
                                      "waiting": 0})

    def answers_waiting(self) -> int:
        with self.lock:
            return sum(gate["waiting"] for gate in self.answer_gates)

    def release_answers(self) -> None:
        with self.lock:
            gates, self.answer_gates = self.answer_gates, []
        for gate in gates:
            gate["event"].set()

    def listed(self, cursor: str | None) -> dict[str, Any]:
        """GET /v1/predictions: every prediction of the account, newest first, a page at a
        time; ``next`` is the URL of the page of older ones (a cursor), as on Replicate."""
        with self.lock:
            ordered = sorted(self.predictions.values(), key=lambda p: p.created, reverse=True)
        start = 0
        if cursor:
            try:
                start = int(base64.urlsafe_b64decode(cursor.encode()).decode())
            except ValueError:
                start = len(ordered)
        page = ordered[start:start + self.list_page_size]
        after = start + len(page)
        following = base64.urlsafe_b64encode(str(after).encode()).decode() if after < len(ordered) else None
        earlier = base64.urlsafe_b64encode(str(max(0, start - self.list_page_size)).encode()).decode() if start else None
        results = []
        for prediction in page:
            item = self.as_json(prediction)
            item.pop("logs", None)  # the list leaves the logs out (Replicate's documented list answer)
            results.append(item)
        return {"next": f"{self.url}/v1/predictions?cursor={following}" if following else None,
                "previous": f"{self.url}/v1/predictions?cursor={earlier}" if earlier else None,
                "results": results}

    def fail_next(self, model: str, error: str = "E6716: the model failed", count: int = 1) -> None:
        self.fail_queue.setdefault(model, []).extend([error] * count)

    def http_error(self, method: str, path_regex: str, status: int, *, times: int = 1,
                   headers: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> None:
        self.http_errors.append({"method": method, "path": re.compile(path_regex), "status": status, "times": times,
                                 "headers": headers or {}, "body": body or {"detail": f"fake error {status}", "status": status}})

    def drop_connection(self, method: str, path_regex: str, *, times: int = 1, after: bool = False) -> None:
        """Close the connection instead of answering; after=True handles the request first (a
        create then creates the prediction) and drops only the answer."""
        self.drops.append({"method": method, "path": re.compile(path_regex), "times": times, "after": after})

    def set_chaos(self, *, fail_fraction: float = 0.0, error_fraction: float = 0.0, drop_fraction: float = 0.0,
                  drop_after_fraction: float = 0.0) -> None:
        """Random faults: failed predictions, 429/500/502/503 answers, dropped connections, and
        answers dropped after the request was handled. Seeded: the same requests get the same faults."""
        self.chaos = {"fail": fail_fraction, "error": error_fraction, "drop": drop_fraction,
                      "drop_after": drop_after_fraction}

    def script_llm(self, *responses: Any) -> None:
        self.llm_responses.extend(responses)

    # --- queries -------------------------------------------------------------------------

    def creates(self, model: str | None = None) -> int:
        with self.lock:
            return sum(1 for p in self.predictions.values() if model is None or p.model == model)

    def requests_to(self, method: str, path_regex: str) -> list[dict[str, Any]]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r["method"] == method and pattern.search(r["path"])]

    def llm_inputs(self) -> list[dict[str, Any]]:
        return [p.input for p in self.predictions.values() if KINDS.get(p.model) == "llm"]

    def uploaded(self, file_url: str) -> bytes:
        file_id = file_url.rstrip("/").split("/")[-1]
        return self.files[file_id][0]

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, port: int = 0, *, tls: bool = False) -> FakeReplicate:
        """tls=True serves https with a throwaway self-signed certificate (``cert_file``),
        the way the production client talks to Replicate and its file host."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = _Server(("127.0.0.1", port), handler)
        self.scheme = "http"
        if tls:
            self.cert_file = self.workdir / "cert.pem"
            key = self.workdir / "key.pem"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(self.cert_file)],
                           check=True, capture_output=True)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # --- behaviour -------------------------------------------------------------------------

    def _new_id(self) -> str:
        return "".join(self.rng.choice(ALPHABET) for _ in range(26))

    def create(self, model: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /v1/models/{owner}/{name}/predictions: official models only, as on Replicate."""
        schema = schemas().get(model)
        if schema is None or not schema.official:
            return 404, {"detail": "The requested resource could not be found.", "status": 404}
        return self._create(model, "hidden", payload)

    def create_version(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /v1/predictions: ``version`` is a version id, ``owner/name:id``, or an official
        model's ``owner/name``."""
        ref = str(payload.get("version", ""))
        name, _, version = ref.rpartition(":") if ":" in ref else ("", "", ref)
        for schema in schemas().values():
            if (version == schema.version and name in ("", schema.model)) or (ref == schema.model and schema.official):
                return self._create(schema.model, schema.version if not schema.official else "hidden", payload)
        return 422, {"title": "Invalid version or not permitted", "status": 422,
                     "detail": "The specified version does not exist (or perhaps you don't have permission to use it?)"}

    def _create(self, model: str, version: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        kind = KINDS[model]
        data = payload.get("input")
        if not isinstance(data, dict):
            return 422, problem_detail([{"type": "required", "field": "input", "description": "input is required"}])
        problems = schemas()[model].invalid_fields(data) or self._missing_uploads(data)
        if problems:
            with self.lock:
                self.invalid_creates.append({"model": model, "invalid_fields": problems})
            return 422, problem_detail(problems)
        queue_s, run_s = self.model_latency.get(model, (0.0, self.latency))
        with self.lock:
            fail = self.fail_queue.get(model, []).pop(0) if self.fail_queue.get(model) else None
            if fail is None and self.chaos.get("fail") and self.fail_rng.random() < self.chaos["fail"]:
                fail = "E1001: the GPU ran out of memory (chaos)"
                self.chaos_hits += 1
                self.chaos_faults.append(("failed prediction", "POST", model))
            prediction = Prediction(id=self._new_id(), model=model, input=data, created=time.monotonic(),
                                    queue_s=queue_s, run_s=run_s, fail_error=fail,
                                    never_finish=model in self.never_finish_models,
                                    held=model in self.held_models, polls_to_finish=self.model_polls.get(model),
                                    version=version)
            self.predictions[prediction.id] = prediction
        if not fail:
            self._make_output(prediction, kind)
        events = payload.get("webhook_events_filter") or ["completed"]
        if isinstance(payload.get("webhook"), str) and "completed" in events:
            prediction.webhook = payload["webhook"]
            threading.Thread(target=self._notify_when_done, args=(prediction,), daemon=True).start()
        return 201, self.as_json(prediction)

    def _notify_when_done(self, prediction: Prediction, *, give_up_after: float = 900.0) -> None:
        """Send the signed "completed" webhook once the prediction finishes (as Replicate
        does, from its own side: no poll needed)."""
        deadline = time.monotonic() + give_up_after
        while prediction.status(time.monotonic()) in {"starting", "processing"}:
            if time.monotonic() > deadline or self.predictions.get(prediction.id) is not prediction:
                return  # never finished, or the fake was reset
            time.sleep(0.01)
        data = self.as_json(prediction)
        answer = webhooks.send(prediction.webhook, self.webhook_secret, json.dumps(data).encode())
        with self.lock:
            if self.predictions.get(prediction.id) is prediction:  # not a reset since (ids repeat per test)
                self.webhooks_sent.append((prediction.id, data["status"], answer))

    def _missing_uploads(self, data: dict[str, Any]) -> list[dict[str, str]]:
        """Inputs pointing at a file this fake never received (a real model fails to fetch them)."""
        return [{"type": "format", "field": f"input.{key}", "description": "file not found"}
                for key, value in data.items() for url in (value if isinstance(value, list) else [value])
                if isinstance(url, str) and "/v1/files/" in url and url.rstrip("/").split("/")[-1] not in self.files]

    def _seconds_of(self, file_url: str) -> float:
        """The length of an uploaded song, as ffmpeg decodes it (0 when it does not)."""
        from tests.fakes.media import ffmpeg

        if "/v1/files/" not in file_url:
            return 0.0
        song = self.workdir / f"song-{secrets.token_hex(4)}"
        song.write_bytes(self.uploaded(file_url))
        try:
            run = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-i", str(song), "-f", "null", "-"], check=False,
                                 capture_output=True, text=True, timeout=60)
        finally:
            song.unlink()
        stamps = re.findall(r"time=(\d+):(\d+):(\d+(?:\.\d+)?)", run.stderr)
        return int(stamps[-1][0]) * 3600 + int(stamps[-1][1]) * 60 + float(stamps[-1][2]) if stamps else 0.0

    def version_json(self, model: str, version: str) -> dict[str, Any] | None:
        """GET /v1/models/{owner}/{name}/versions/{id}: what ``run("owner/name:id")`` reads."""
        schema = schemas().get(model)
        if schema is None or schema.version != version:
            return None
        return {"id": version, "created_at": _now(), "cog_version": "0.16.9",
                "openapi_schema": {"components": {"schemas": {"Input": schema.input, "Output": schema.output}}}}

    def _make_output(self, prediction: Prediction, kind: str) -> None:
        from tests.fakes.media import fake_image, fake_video, inverted, mux, tone

        if kind == "llm":
            text = self.llm_responses.pop(0) if self.llm_responses else _default_scenes(prediction.input)
            if callable(text):
                text = text(prediction.input)
            prediction.output = [text[i:i + 7] for i in range(0, len(text), 7)]
            return
        if kind == "video":
            body = b"this is not a video" if self.output_not_video else fake_video(
                self.workdir, int(prediction.input.get("duration", 8)), str(prediction.input.get("aspect_ratio", "16:9")))
            name = "output.mp4"
            prediction.output_files[name] = (body, "video/mp4")
        elif kind == "image":
            fmt = str(prediction.input.get("output_format", "png"))
            name = f"output.{fmt}"
            jpeg = fmt in ("jpg", "jpeg")  # a real JPEG when asked for one, else a PNG
            prediction.output_files[name] = (fake_image(self.workdir, "jpg" if jpeg else "png"),
                                             "image/jpeg" if jpeg else "image/png")
        elif kind == "image_edit":  # a picture of the format asked for (the first input picture's own)
            fmt = str(prediction.input.get("output_format", "jpg"))
            jpeg = fmt in ("jpg", "jpeg")
            name = f"output.{fmt}"
            prediction.output_files[name] = (fake_image(self.workdir, "jpg" if jpeg else "png"),
                                             "image/jpeg" if jpeg else "image/png")
        elif kind == "stems":
            seconds = self._seconds_of(str(prediction.input["audio"])) or 1.0
            fmt = str(prediction.input.get("output_format", "mp3"))
            stem = str(prediction.input.get("stem", "vocals"))
            prediction.output = {key: f"{self.url}/delivery/{prediction.id}/{key}.{fmt}" for key in (stem, "other")}
            prediction.output_files[f"{stem}.{fmt}"] = (inverted(self.workdir, self.uploaded(str(prediction.input["audio"])),
                                                                 fmt), f"audio/{fmt}")
            prediction.output_files[f"other.{fmt}"] = (tone(self.workdir, 110, seconds, fmt), f"audio/{fmt}")
            return
        elif kind == "structure":
            answer = self.structures.pop(0) if self.structures else _structure(
                self._seconds_of(str(prediction.input["music_input"])))
            prediction.output_files["analysis.json"] = (json.dumps(answer).encode(), "application/json")
            prediction.output = [f"{self.url}/delivery/{prediction.id}/analysis.json"]
            return
        elif kind == "music":  # a real drum pattern of exactly the asked length, in the asked format
            import numpy as np

            from tests.fakes.songs import SR, drum_pattern, write_samples

            seconds = float(prediction.input.get("duration", 8))
            samples = drum_pattern(120.0, seconds + 4).samples[: int(seconds * SR)]
            wav = write_samples(np.pad(samples, (0, int(seconds * SR) - len(samples))), self.workdir / f"{prediction.id}.wav")
            name = "output.wav"
            prediction.output_files[name] = (wav.read_bytes(), "audio/wav")
        elif kind == "transcription":
            prediction.output = self.transcriptions.pop(0) if self.transcriptions else _transcription(
                prediction.input, self._seconds_of(str(prediction.input["audio"])))
            return
        else:
            video = self.uploaded(str(prediction.input["video"]))
            audio = self.uploaded(str(prediction.input["audio"]))
            name = "lipsync.mp4"
            prediction.output_files[name] = (mux(self.workdir, video, audio), "video/mp4")
        prediction.output = f"{self.url}/delivery/{prediction.id}/{name}"

    def as_json(self, prediction: Prediction) -> dict[str, Any]:
        now = time.monotonic()
        status = prediction.status(now)
        done = status in {"succeeded", "failed", "canceled"}
        base = self.url
        created = datetime.now(UTC) - timedelta(seconds=now - prediction.created)
        logs = ""
        if status == "processing" and prediction.run_s:
            share = min(1.0, (now - prediction.created - prediction.queue_s) / prediction.run_s)
            logs = f" {int(share * 100)}%|{'█' * int(share * 10):<10}| {int(share * 8)}/8 [00:01<00:01]"
        return {
            "id": prediction.id, "model": prediction.model, "version": prediction.version, "input": prediction.input,
            "logs": logs, "output": prediction.output if status == "succeeded" else None, "data_removed": False,
            "error": prediction.fail_error if status == "failed" else None, "status": status,
            "created_at": created.isoformat().replace("+00:00", "Z"), "source": "api",
            "started_at": _now() if status != "starting" else None, "completed_at": _now() if done else None,
            "metrics": self._metrics(prediction) if done else {},
            "urls": {"get": f"{base}/v1/predictions/{prediction.id}", "cancel": f"{base}/v1/predictions/{prediction.id}/cancel",
                     "web": f"{base}/p/{prediction.id}"},
        }


    def _metrics(self, prediction: Prediction) -> dict[str, Any]:
        """What Replicate reports a finished prediction used: its run time (a cancelled one: the
        time it ran before the cancel) and, for a language model, its token counts."""
        ran = prediction.run_s
        if prediction.canceled_at is not None:
            ran = min(prediction.run_s, max(0.0, prediction.canceled_at - prediction.created - prediction.queue_s))
        metrics: dict[str, Any] = {"predict_time": round(ran, 6), "total_time": round(prediction.queue_s + ran, 6)}
        if KINDS[prediction.model] == "llm":
            written = "".join(prediction.output or []) if prediction.canceled_at is None else ""
            metrics |= {"input_token_count": -(-len(str(prediction.input.get("prompt", ""))) // 4),
                        "output_token_count": -(-len(written) // 4)}
        return metrics
LYRIC_LINES = ("Lights come up on the empty stage", "We sing it loud until the morning comes",
               "Hold on, hold on to the sound", "Every heartbeat is a drum", "We sing it loud until the morning comes",
               "Hold on, hold on to the sound")


STRUCTURE_FORM = (("start", 0.0), ("intro", 0.5), ("verse", 8.5), ("chorus", 16.5), ("verse", 24.5), ("chorus", 32.5),
                  ("bridge", 40.5), ("chorus", 48.5), ("outro", 56.5))


def _structure(seconds: float, bpm: float = 120.0) -> dict[str, Any]:
    """What All-In-One answers for a song: a steady 4/4 beat from 0.5 s, and its sections (a
    pop form, intro to outro, cut short by the song's end, with silence at each end)."""
    seconds = seconds or 30.0
    beats = [round(0.5 + k * 60 / bpm, 2) for k in range(int((seconds - 0.5) * bpm / 60) + 1) if 0.5 + k * 60 / bpm < seconds]
    positions = [k % 4 + 1 for k in range(len(beats))]
    starts = [(label, at) for label, at in STRUCTURE_FORM if at < seconds - 1.0]
    ends = [at for _, at in starts[1:]] + [max(starts[-1][1], seconds - 0.3)]
    segments = [{"start": at, "end": end, "label": label} for (label, at), end in zip(starts, ends, strict=True)]
    segments.append({"start": ends[-1], "end": round(seconds, 2), "label": "end"})
    return {"path": "/tmp/input.mp3", "bpm": round(bpm), "beats": beats,
            "downbeats": [b for b, p in zip(beats, positions, strict=True) if p == 1], "beat_positions": positions,
            "segments": segments}


def _transcription(data: dict[str, Any], seconds: float) -> dict[str, Any]:
    """What openai/whisper answers for a song: a segment per sung line (start, end, text and
    its decoding statistics) after an instrumental intro, and the whole text in the format
    asked for (``transcription``: plain text, srt or vtt)."""
    seconds = seconds or 30.0
    start, step = min(4.0, seconds * 0.1), 3.2
    segments = []
    for i, line in enumerate(LYRIC_LINES):
        at = round(start + i * step, 2)
        if at + 2.8 > seconds:
            break
        segments.append({"id": i, "seek": int(at * 100) // 3000 * 3000, "start": at, "end": round(at + 2.8, 2),
                         "text": f" {line}", "tokens": [50364 + i, 2000 + i, 50504 + i], "temperature": 0.0,
                         "avg_logprob": -0.41, "compression_ratio": 1.37, "no_speech_prob": 0.08})
    fmt = data.get("transcription", "plain text")

    def stamp(t: float) -> str:
        sep = "," if fmt == "srt" else "."
        return f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{int(t % 60):02d}{sep}{round(t * 1000) % 1000:03d}"

    if fmt == "plain text":
        text = "".join(s["text"] for s in segments)
    else:
        cues = [f"{stamp(s['start'])} --> {stamp(s['end'])}\n{s['text'].strip()}\n" for s in segments]
        text = "\n".join(f"{i + 1}\n{cue}" for i, cue in enumerate(cues)) if fmt == "srt" else "WEBVTT\n\n" + "\n".join(cues)
    return {"detected_language": "english", "transcription": text, "segments": segments,
            "translation": None, "txt_file": None, "srt_file": None}


def _default_scenes(data: dict[str, Any]) -> str:
    match = re.search(r"exactly (\d+) ", str(data.get("prompt", "")))
    count = int(match.group(1)) if match else 4
    return json.dumps({"scenes": [{"description": f"Fake scene {i + 1}: a shot of the idea", "negative_description": "blur"}
                                  for i in range(count)]})


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # bursts of concurrent clients must queue, not be refused
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waited for the
    # client's delayed ACK of the headers, 40 ms on every answer (47 ms a request for 0.6 ms of
    # work), so every client of the fake spent most of its time waiting on TCP.
    disable_nagle_algorithm = True
    fake: FakeReplicate

    def log_message(self, format: str, *args: Any) -> None:
        return None

    # --- plumbing ----------------------------------------------------------------------

    def _send(self, status: int, body: Any, *, content_type: str = "application/json", headers: dict | None = None) -> None:
        gate = getattr(self, "answer_gate", None)
        if gate is not None:  # handled; the answer waits for release_answers()
            self.answer_gate = None
            with self.fake.lock:
                gate["waiting"] += 1
            gate["event"].wait()
            with self.fake.lock:
                gate["waiting"] -= 1
        if getattr(self, "drop_answer", False):  # handled, but the client never hears back
            self.drop_answer = False
            with self.fake.lock:
                self.fake.dropped_responses.append({"method": self.command, "path": self.path, "status": status,
                                                    "id": body.get("id") if isinstance(body, dict) else None})
            self.close_connection = True
            self.connection.close()
            return
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if status >= 400 and content_type == "application/json":
            content_type = "application/problem+json"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("ratelimit-remaining", "599")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _injected(self) -> bool:
        fake = self.fake
        path = self.path
        with fake.lock:
            for drop in fake.drops:
                if drop["times"] > 0 and drop["method"] == self.command and drop["path"].search(path):
                    drop["times"] -= 1
                    if drop.get("after"):
                        self.drop_answer = True
                        break
                    self.close_connection = True
                    self.connection.close()
                    return True
            for error in fake.http_errors:
                if error["times"] > 0 and error["method"] == self.command and error["path"].search(path):
                    error["times"] -= 1
                    self._send(error["status"], error["body"], headers=error["headers"])
                    return True
            chaos = fake.chaos
            if chaos and path.startswith("/v1/"):
                roll = fake.rng.random()
                if roll < chaos.get("drop", 0) + chaos.get("error", 0) + chaos.get("drop_after", 0):
                    fake.chaos_hits += 1
                    kind = ("drop" if roll < chaos.get("drop", 0) else "error" if roll < chaos.get("drop", 0) + chaos.get("error", 0)
                            else "drop after")
                    fake.chaos_faults.append((kind, self.command, path))
                if roll < chaos.get("drop", 0):
                    self.close_connection = True
                    self.connection.close()
                    return True
                if roll < chaos.get("drop", 0) + chaos.get("error", 0):
                    status = fake.rng.choice([429, 500, 502, 503])
                    headers = {"Retry-After": "0"} if status == 429 else {}
                    self._send(status, {"detail": "Request was throttled (chaos)." if status == 429 else "server error (chaos)",
                                        "status": status}, headers=headers)
                    return True
                if roll < chaos.get("drop", 0) + chaos.get("error", 0) + chaos.get("drop_after", 0):
                    self.drop_answer = True
        return False

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        if auth in (f"Bearer {self.fake.token}", f"Token {self.fake.token}"):
            return True
        self._send(401, {"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401})
        return False

    def _record(self, body: bytes) -> None:
        entry: dict[str, Any] = {"method": self.command, "path": self.path, "headers": dict(self.headers)}
        if body and "json" in (self.headers.get("Content-Type") or ""):
            try:
                entry["json"] = json.loads(body)
            except ValueError:
                entry["json"] = None
        with self.fake.lock:
            self.fake.requests.append(entry)

    # --- routes -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route(b"")

    def do_HEAD(self) -> None:
        self._route(b"")

    def do_POST(self) -> None:
        self._route(self._read_body())

    def do_DELETE(self) -> None:
        self._route(b"")

    def _route(self, body: bytes) -> None:
        self.drop_answer = False
        self._record(body)
        if self._injected():
            return
        with self.fake.lock:
            self.answer_gate = next((g for g in self.fake.answer_gates
                                     if g["method"] == self.command and g["path"].search(self.path)), None)
        fake, path = self.fake, self.path.split("?")[0]
        if path.startswith("/delivery/"):
            return self._delivery(path)
        if path.startswith("/v1/") and not self._authorized():
            return None
        by_name = re.fullmatch(r"/v1/models/([^/]+/[^/]+)/predictions", path)
        if by_name or (path == "/v1/predictions" and self.command == "POST"):
            payload = json.loads(body or b"{}")
            status, data = fake.create(by_name.group(1), payload) if by_name else fake.create_version(payload)
            prefer = self.headers.get("Prefer", "")
            if status == 201 and prefer.startswith("wait"):
                wait = float(prefer.split("=")[1]) if "=" in prefer else 60.0
                deadline = time.monotonic() + wait
                prediction = fake.predictions[data["id"]]
                while (prediction.status(time.monotonic()) in {"starting", "processing"} and time.monotonic() < deadline
                       and not prediction.held and prediction.polls_to_finish is None):
                    time.sleep(0.01)
                data = fake.as_json(prediction)
                if data["status"] == "processing":
                    data["status"] = "starting"
                return self._send(status, data, headers={"Preference-Applied": prefer})
            return self._send(status, data)
        if path == "/v1/predictions" and self.command == "GET":
            cursor = parse_qs(urlsplit(self.path).query).get("cursor", [None])[0]
            return self._send(200, fake.listed(cursor))
        if path == "/v1/webhooks/default/secret" and self.command == "GET":
            return self._send(200, {"key": fake.webhook_secret})
        if m := re.fullmatch(r"/v1/models/([^/]+/[^/]+)/versions/([0-9a-f]{64})", path):
            version = fake.version_json(m.group(1), m.group(2))
            if version is None:
                return self._send(404, {"detail": "The requested resource could not be found.", "status": 404})
            return self._send(200, version)
        if m := re.fullmatch(r"/v1/predictions/([a-z0-9]+)(/cancel)?", path):
            prediction = fake.predictions.get(m.group(1))
            if prediction is None:
                return self._send(404, {"detail": "The requested resource could not be found.", "status": 404})
            if not m.group(2) and self.command == "GET":
                with fake.lock:
                    prediction.polls += 1
            if m.group(2) and self.command == "POST":
                if prediction.status(time.monotonic()) in {"starting", "processing"}:
                    prediction.canceled_at = time.monotonic()
            return self._send(200, fake.as_json(prediction))
        if path == "/v1/files" and self.command == "POST":
            return self._upload(body)
        if m := re.fullmatch(r"/v1/files/([A-Za-z0-9]+)(/download)?", path):
            stored = fake.files.get(m.group(1))
            if stored is None:
                return self._send(404, {"detail": "File not found"})
            if m.group(2) or self.command == "GET" and "download" in self.path:
                return self._send(200, stored[0], content_type=stored[2])
            return self._send(200, self._file_json(m.group(1)))
        return self._send(404, {"detail": "The requested resource could not be found.", "status": 404})

    def _delivery(self, path: str) -> None:
        parts = path.split("/")
        prediction = self.fake.predictions.get(parts[2]) if len(parts) > 3 else None
        if prediction is None or self.fake.output_404 or parts[3] not in prediction.output_files:
            return self._send(404, b"not found", content_type="text/plain")
        data, content_type = prediction.output_files[parts[3]]
        return self._send(200, data, content_type=content_type)

    def _upload(self, body: bytes) -> None:
        ctype = self.headers.get("Content-Type", "")
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "content":
                data = part.get_payload(decode=True) or b""
                name = part.get_filename() or "file"
                file_id = secrets.token_hex(12)
                self.fake.files[file_id] = (data, name, part.get_content_type())
                return self._send(201, self._file_json(file_id))
        return self._send(400, {"detail": "missing content part", "status": 400})

    def _file_json(self, file_id: str) -> dict[str, Any]:
        data, name, content_type = self.fake.files[file_id]
        return {"id": file_id, "name": name, "content_type": content_type, "size": len(data),
                "etag": hashlib.md5(data).hexdigest(),
                "checksums": {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()},
                "metadata": {}, "created_at": _now(),
                "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
                "urls": {"get": f"{self.fake.url}/v1/files/{file_id}"}}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Replicate API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds each prediction runs")
    args = parser.parse_args()
    fake = FakeReplicate(latency=args.latency).start(args.port)
    print(f"fake Replicate on {fake.url} (token {fake.token})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
