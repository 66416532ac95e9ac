"""Config flavors: discovery, inheritance, resolution, immutability, logging, checks, command, endpoint."""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from mv import checks, flavors


@pytest.fixture
def configs(tmp_path) -> Path:
    root = tmp_path / "configs"
    root.mkdir()
    return root


@pytest.fixture
def registry_restored():
    saved = flavors.registry()
    yield
    flavors.install(saved)


def write_flavor(root: Path, name: str, **files: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for stem, text in files.items():
        (folder / f"{stem}.yaml").write_text(text)
    return folder


def copy_default(root: Path) -> None:
    real = Path(flavors.registry().path) / "default"
    write_flavor(root, "default", **{p.stem: p.read_text() for p in real.glob("*.yaml")})


def test_every_folder_is_a_flavor_and_hidden_ones_are_skipped(configs):
    copy_default(configs)
    write_flavor(configs, "extra", parameters="camera_angle: top\n")
    write_flavor(configs, ".hidden", parameters="camera_angle: top\n")
    assert flavors.load_registry(configs).names() == ["default", "extra"]
    assert flavors.names() == ["default", "mv1"]


def test_a_flavor_inherits_missing_keys_and_files_from_default(configs):
    copy_default(configs)
    write_flavor(configs, "extra", parameters="camera_angle: from above\n")
    registry = flavors.load_registry(configs)
    extra, default = registry.flavors["extra"], registry.flavors["default"]
    assert extra.values["parameters"]["camera_angle"] == "from above"
    assert extra.source_of("parameters", "camera_angle") == "extra"
    assert extra.values["parameters"]["video_type"] == default.values["parameters"]["video_type"]
    assert extra.source_of("parameters", "video_type") == "default"
    assert extra.values["image_params"] == default.values["image_params"]
    assert extra.files == ("parameters.yaml",)


def test_unknown_flavor_falls_back_to_default_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="mv.flavors"):
        flavor = flavors.resolve("nope")
    assert flavor.name == "default"
    assert any("'nope' not found, using 'default'" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("name", ["../x", "a b", "x" * 65, "ok/../../etc"])
def test_malformed_flavor_names_are_rejected(name):
    with pytest.raises(flavors.InvalidFlavorName):
        flavors.resolve(name)


def test_no_name_means_default():
    assert flavors.resolve(None).name == "default" and flavors.resolve("").name == "default"


def test_loaded_flavors_are_deeply_immutable():
    flavor = flavors.resolve("mv1")
    with pytest.raises(TypeError):
        flavor.values["parameters"]["video_type"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        flavor.values["new"] = {}  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        flavor.name = "other"  # type: ignore[misc]
    assert isinstance(flavors.freeze({"a": [1, {"b": [2]}]})["a"], tuple)


def test_concurrent_requests_with_different_flavors_never_mix():
    expected = {name: flavors.resolve(name).values["parameters"]["video_characteristics"] for name in ("default", "mv1")}
    expected["nope"] = expected["default"]
    mixups: list[str] = []

    def worker(index: int) -> None:
        for i in range(200):
            name = ("default", "mv1", "nope")[(index + i) % 3]
            got = flavors.resolve(name).get("parameters", "video_characteristics", used_in="test")
            if got != expected[name]:
                mixups.append(name)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mixups == []


def test_debug_mode_logs_each_value_with_where_it_went(caplog):
    caplog.set_level(logging.DEBUG, logger="mv")
    flavor = flavors.resolve("mv1")
    value = flavor.get("scene_prompts", "scene_generation_prompt", used_in="mv.pipeline.write_scenes: prompt template")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "config flavor 'mv1' loaded" in text
    assert "scene_prompts.yaml:scene_generation_prompt" in text
    assert "mv.pipeline.write_scenes: prompt template" in text
    assert value.splitlines()[-1].strip() in text


def test_startup_log_names_flavors_and_files_but_not_prompts(caplog):
    caplog.set_level(logging.DEBUG, logger="mv")
    flavors.load_registry(Path(flavors.registry().path))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "mv1 (parameters.yaml" in text
    assert "live-performance" not in text


def test_without_debug_mode_no_prompt_text_is_logged(caplog):
    caplog.set_level(logging.INFO, logger="mv")
    flavor = flavors.resolve("mv1")
    flavor.get("scene_prompts", "scene_generation_prompt", used_in="x")
    assert not any("live-performance" in r.getMessage() for r in caplog.records)


def check_ids() -> set[str]:
    return {m.id for m in checks.check_flavors()}


def test_the_shipped_configs_pass_the_checks():
    assert check_ids() == set()


def test_check_reports_malformed_yaml_and_the_others_still_load(configs, registry_restored):
    copy_default(configs)
    write_flavor(configs, "broken", parameters="camera_angle: [unclosed\n")
    write_flavor(configs, "fine", parameters="camera_angle: low\n")
    flavors.install(flavors.load_registry(configs))
    assert "mv.E001" in check_ids()
    assert flavors.names() == ["default", "fine"]


def test_check_reports_a_missing_default(configs, registry_restored):
    write_flavor(configs, "only", parameters="camera_angle: low\n")
    flavors.install(flavors.load_registry(configs))
    assert "mv.E002" in check_ids()


def test_check_reports_a_wrong_type(configs, registry_restored):
    copy_default(configs)
    write_flavor(configs, "typo", parameters="number_of_scenes: four\n")
    flavors.install(flavors.load_registry(configs))
    assert "mv.E003" in check_ids()


def test_check_reports_a_placeholder_nothing_fills(configs, registry_restored):
    copy_default(configs)
    write_flavor(configs, "mood", scene_prompts="scene_generation_prompt: 'Write {number_of_scenes} scenes, {mood}'\n")
    flavors.install(flavors.load_registry(configs))
    messages = [m for m in checks.check_flavors() if m.id == "mv.E004"]
    assert messages and "mood" in messages[0].msg


def test_mv_flavors_lists_shows_and_diffs(capsys):
    call_command("mv_flavors")
    listing = capsys.readouterr().out
    assert "default (default)" in listing and "mv1:" in listing
    call_command("mv_flavors", "show", "mv1")
    shown = capsys.readouterr().out
    assert "video_type [own file]: music video" in shown
    call_command("mv_flavors", "diff", "default", "mv1")
    assert "camera_angle" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("mv_flavors", "show", "nope")


def test_flavor_endpoint_with_session_key_and_without_auth(alice_client, client):
    assert alice_client.get("/api/mv/get_config_flavors").json() == {"flavors": ["default", "mv1"], "default": "default"}
    alice_client.logout()
    assert client.get("/api/mv/get_config_flavors", HTTP_X_API_KEY="test-api-key").status_code == 200
    assert client.get("/api/mv/get_config_flavors", HTTP_X_API_KEY="wrong").status_code == 401
    assert client.post("/api/mv/get_config_flavors", HTTP_X_API_KEY="test-api-key").status_code == 405


def test_mv1_is_a_live_band_performance_and_keeps_the_default_models():
    default, mv1 = flavors.resolve("default"), flavors.resolve("mv1")
    assert mv1.values["parameters"]["video_type"] == "music video"
    prompt = mv1.values["scene_prompts"]["scene_generation_prompt"].lower()
    for word in ("band", "lead singer", "audience", "close-up", "stage", "lighting", "drummer"):
        assert word in prompt
    assert mv1.values["scene_prompts"] != default.values["scene_prompts"]
    assert mv1.values["parameters"] != default.values["parameters"]
    own = {"lipsync_scenes_with_lyrics"}  # a performance video pre-ticks lipsync where there are lyrics
    assert {k: v for k, v in mv1.values["image_params"].items() if k not in own} == \
        {k: v for k, v in default.values["image_params"].items() if k not in own}


def test_mv_flavors_diff_shows_long_values_in_full_and_show_says_where_values_come_from(configs, registry_restored,
                                                                                       capsys):
    copy_default(configs)
    same_start = "a slow dolly along a rain-soaked neon street at night, reflections everywhere, " * 2
    write_flavor(configs, "red", parameters=f"video_characteristics: '{same_start}lit in red'\n")
    write_flavor(configs, "blue", parameters=f"video_characteristics: '{same_start}lit in blue'\ncamera_angle: high\n")
    flavors.install(flavors.load_registry(configs))
    call_command("mv_flavors", "diff", "red", "blue")
    diff = capsys.readouterr().out
    assert f"-{same_start}lit in red" in diff and f"+{same_start}lit in blue" in diff
    assert "parameters.yaml camera_angle:" in diff and "+high" in diff
    assert "video_type" not in diff  # both inherit it from default
    call_command("mv_flavors", "show", "blue")
    shown = capsys.readouterr().out
    assert "camera_angle [own file]: high" in shown
    assert "video_type [from default]: " in shown
    assert "scene_generation_prompt [from default]: " in shown


def test_mv_flavors_diff_says_when_two_flavors_resolve_the_same(configs, registry_restored, capsys):
    copy_default(configs)
    angle = flavors.registry().flavors["default"].values["parameters"]["camera_angle"]
    write_flavor(configs, "twin", parameters=f"camera_angle: {angle}\n")
    flavors.install(flavors.load_registry(configs))
    call_command("mv_flavors", "diff", "default", "twin")
    assert capsys.readouterr().out.strip() == "default and twin resolve to the same values"


@pytest.mark.parametrize("template", ["Write {} scenes about {idea}", "Write {0} scenes", "Write {number_of_scenes} {0.x}"])
def test_check_reports_positional_placeholders_that_would_fail_at_format(configs, registry_restored, template):
    copy_default(configs)
    write_flavor(configs, "pos", scene_prompts=f"scene_generation_prompt: '{template}'\n")
    flavors.install(flavors.load_registry(configs))
    messages = [m for m in checks.check_flavors() if m.id == "mv.E004"]
    assert len(messages) == 1 and "positional placeholders" in messages[0].msg and "pos" in messages[0].msg
    with pytest.raises(IndexError):  # what the check saves the scene writer from
        template.format(idea="x", number_of_scenes=2)


def test_literal_braces_are_not_placeholders(configs, registry_restored):
    copy_default(configs)
    write_flavor(configs, "json", scene_prompts="scene_generation_prompt: 'Answer {{\"scenes\": []}} for {idea}'\n")
    flavors.install(flavors.load_registry(configs))
    assert check_ids() == set()


def test_a_flavor_that_sets_one_price_keeps_the_other_default_prices(configs):
    copy_default(configs)
    write_flavor(configs, "fast", image_params="pricing:\n  video_usd_per_second: 0.10\n")
    registry = flavors.load_registry(configs)
    fast, default = registry.flavors["fast"], registry.flavors["default"]
    pricing = fast.values["image_params"]["pricing"]
    assert pricing["video_usd_per_second"] == 0.10
    assert set(pricing) == set(flavors.PRICING_KEYS)
    assert {k: v for k, v in pricing.items() if k != "video_usd_per_second"} == {
        k: v for k, v in default.values["image_params"]["pricing"].items() if k != "video_usd_per_second"}
    assert fast.source_of("image_params", "pricing.video_usd_per_second") == "fast"
    assert fast.source_of("image_params", "pricing.image_usd_each") == "default"
    assert fast.values["image_params"]["video_model"] == default.values["image_params"]["video_model"]


def test_a_flavor_that_replaces_a_mapping_with_a_scalar_is_reported_not_merged(configs, registry_restored):
    copy_default(configs)
    write_flavor(configs, "flat", image_params="pricing: 3\n")
    flavors.install(flavors.load_registry(configs))
    assert flavors.resolve("flat").values["image_params"]["pricing"] == 3
    assert "mv.E003" in check_ids()


def test_the_shipped_flavors_have_every_price(configs):
    for name in flavors.names():
        pricing = flavors.resolve(name).values["image_params"]["pricing"]
        assert set(pricing) == set(flavors.PRICING_KEYS)
        assert all(value >= 0 for value in pricing.values())


@pytest.mark.parametrize(("yaml_text", "words"), [
    ("pricing:\n  video_usd_per_second: -0.2\n", "pricing.video_usd_per_second should be a number"),
    ("pricing:\n  image_usd_each: cheap\n", "pricing.image_usd_each should be a number"),
    ("pricing:\n  image_usd_each: true\n", "pricing.image_usd_each should be a number"),
    ("pricing:\n  image_usd_each: .nan\n", "pricing.image_usd_each should be a number"),
    ("pricing:\n  video_usd_per_secnd: 0.2\n", "unknown key 'video_usd_per_secnd'"),
])
def test_check_reports_a_bad_price(configs, registry_restored, yaml_text, words):
    copy_default(configs)
    write_flavor(configs, "pricey", image_params=yaml_text)
    flavors.install(flavors.load_registry(configs))
    messages = [m for m in checks.check_flavors() if m.id == "mv.E005"]
    assert len(messages) == 1 and words in messages[0].msg and "pricey" in messages[0].msg
    assert "pricey/image_params.yaml" in messages[0].hint


def test_check_reports_a_price_missing_after_inheritance(configs, registry_restored):
    copy_default(configs)
    default_params = configs / "default" / "image_params.yaml"
    default_params.write_text(default_params.read_text().replace("  image_usd_each: 0.04\n", ""))
    write_flavor(configs, "other", parameters="camera_angle: low\n")
    flavors.install(flavors.load_registry(configs))
    messages = [m.msg for m in checks.check_flavors() if m.id == "mv.E005"]
    assert sorted(messages) == ["config flavor default: image_params.yaml pricing has no image_usd_each",
                                "config flavor other: image_params.yaml pricing has no image_usd_each"]


def test_mv_flavors_show_lists_each_price_with_its_source_and_diff_names_the_one_that_differs(
        configs, registry_restored, capsys):
    copy_default(configs)
    write_flavor(configs, "fast", image_params="pricing:\n  video_usd_per_second: 0.1\n")
    flavors.install(flavors.load_registry(configs))
    call_command("mv_flavors", "show", "fast")
    shown = capsys.readouterr().out
    assert "pricing.video_usd_per_second [own file]: 0.1" in shown
    assert "pricing.video_with_audio_usd_per_second [from default]: 0.4" in shown
    assert "pricing.lipsync_usd_per_second [from default]: 0.083" in shown
    call_command("mv_flavors", "diff", "default", "fast")
    diff = capsys.readouterr().out
    assert "image_params.yaml pricing.video_usd_per_second:" in diff and "+0.1" in diff
    assert "image_usd_each" not in diff


@pytest.mark.parametrize(("yaml_text", "check_id"), [
    ("video_durations: [4, 0, 8]\n", "mv.E006"),
    ("video_durations: []\n", "mv.E006"),
    ("video_durations: [4.5]\n", "mv.E006"),
    ("video_durations: 8\n", "mv.E003"),
])
def test_check_reports_clip_durations_the_scene_plan_cannot_use(configs, registry_restored, yaml_text, check_id):
    copy_default(configs)
    write_flavor(configs, "clips", image_params=yaml_text)
    flavors.install(flavors.load_registry(configs))
    assert check_id in check_ids()


def test_the_scene_plan_placeholder_passes_the_check_and_mv_flavors_show_explains_it(configs, registry_restored,
                                                                                     capsys):
    copy_default(configs)
    write_flavor(configs, "planned", scene_prompts="scene_generation_prompt: 'Write {number_of_scenes}: {scene_plan}'\n")
    flavors.install(flavors.load_registry(configs))
    assert check_ids() == set()
    call_command("mv_flavors", "show", "planned")
    assert "{scene_plan}: one line per scene: its time in the song, section, energy 0-1 and the lyrics" in \
        capsys.readouterr().out


def test_a_flavors_video_settings_are_typed_and_read_once():
    from mv import flavors as registry

    flavor = registry.resolve("mv1")
    video = flavor.video
    assert video is flavor.video  # built once per flavor
    assert video.durations == (4, 6, 8) and (video.shortest, video.longest) == (4, 8)
    assert video.duration == 8 and video.generate_audio is True and video.aspect_ratio == "16:9"
    assert "9:16" in video.aspect_ratios and "{aspect_ratio}" in video.rules_template
    assert video.lipsync_scenes_with_lyrics is True and registry.resolve("default").video.lipsync_scenes_with_lyrics is False


@pytest.mark.parametrize(("yaml_text", "check_id", "words"), [
    ("max_speedup: 2.0\n", "mv.E008", "max_speedup is 2.0; it is how much faster a clip may play to fill its scene "
                                      "(1.0: never) and must be between 1 and 1.5"),
    ("max_speedup: 0.9\n", "mv.E008", "must be between 1 and 1.5"),
    ("max_speedup: fast\n", "mv.E003", "'max_speedup' should be int or float"),
])
def test_check_rejects_a_max_speedup_outside_one_to_one_and_a_half_with_a_clear_message(configs, registry_restored,
                                                                                       yaml_text, check_id, words):
    copy_default(configs)
    write_flavor(configs, "rushed", image_params=yaml_text)
    flavors.install(flavors.load_registry(configs))
    found = [m for m in checks.check_flavors() if m.id == check_id]
    assert found and words in found[0].msg and "rushed" in found[0].msg
    assert found[0].hint == "set in rushed/image_params.yaml"


def test_max_speedup_one_means_trim_only_and_the_shipped_flavors_fill_by_up_to_ten_percent(configs, registry_restored):
    from mv import planning

    assert planning.max_speedup(flavors.resolve("default")) == planning.max_speedup(flavors.resolve("mv1")) == 1.1
    copy_default(configs)
    write_flavor(configs, "trim", image_params="max_speedup: 1\n")
    flavors.install(flavors.load_registry(configs))
    assert check_ids() == set() and planning.max_speedup(flavors.resolve("trim")) == 1.0
