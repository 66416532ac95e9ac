"""The offline provider: deterministic scenes from the flavor, real labelled renders, fast."""

from __future__ import annotations

from mv import flavors, media
from mv.pipeline import characters
from mv.providers.base import ClipRequest, LipsyncRequest, SceneRequest, parse_scenes
from mv.providers.local import LocalProvider


def request(n: int = 3) -> SceneRequest:
    params = flavors.resolve("mv1").values["parameters"]
    return SceneRequest(idea="a storm over the pier", character_description="a singer in a yellow coat",
                        character_characteristics=params["character_characteristics"], number_of_scenes=n,
                        video_type=params["video_type"], video_characteristics=params["video_characteristics"],
                        camera_angle=params["camera_angle"])


def test_scene_writing_is_deterministic_distinct_and_uses_the_flavor():
    first = LocalProvider().start_scenes(flavors.resolve("mv1"), request())
    again = LocalProvider().start_scenes(flavors.resolve("mv1"), request())
    assert first.state == "succeeded" and first.text == again.text and first.input == again.input
    scenes = parse_scenes(first.text, 3)  # written at once, in the shape asked of the LLM
    assert len({s.description for s in scenes}) == 3
    assert all("a storm over the pier" in s.description and "music video" in s.description for s in scenes)
    assert "live-performance music video" in first.input["prompt"]


def test_clip_and_lipsync_are_real_media(tmp_path, song_mp3):
    provider = LocalProvider()
    clip = provider.start_clip(flavors.resolve("default"), ClipRequest(prompt="pier", duration=4, label="Scene 1"),
                               workdir=tmp_path)
    assert clip.state == "succeeded" and abs(media.probe(clip.output_path).video.duration - 4) < 0.05
    wav = tmp_path / "slice.wav"
    media.cut_audio(song_mp3, 8, 12, wav)
    synced = provider.start_lipsync(flavors.resolve("default"), LipsyncRequest(video=clip.output_path, audio=wav),
                                    workdir=tmp_path)
    info = media.probe(synced.output_path)
    assert synced.state == "succeeded" and info.audio is not None and abs(info.video.duration - 4) < 0.05


def test_four_character_images_render_as_real_pictures(user):
    from mv.models import JobStatus

    images = characters.request_character_images(owner=user, flavor=flavors.resolve("mv1"), description="a drummer")
    for image in images:
        image.refresh_from_db()
    assert len(images) == 4 and all(i.status == JobStatus.SUCCEEDED for i in images), [i.error for i in images]
    assert all(i.prediction_id.startswith("local-") and i.file.name.endswith(".png") for i in images)
    assert all(i.file.read(8) == b"\x89PNG\r\n\x1a\n" for i in images)
