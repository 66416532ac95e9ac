"""Song analysis and the scene plan, against songs we make ourselves with known beats and sections."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mv import media
from mv.music import (
    ANALYSIS_VERSION,
    Analysis,
    AnalysisError,
    LyricLine,
    PlanError,
    Section,
    Slot,
    analyze,
    clip_duration_for,
    count_range,
    from_transcription,
    is_lrc,
    lyrics_in,
    paid_seconds,
    parse_lyrics,
    plan_scenes,
    scene_plan_text,
    warm_up,
)
from mv.music.plan import required_cuts
from tests.fakes import songs

VEO = [4, 6, 8]


def _hits(found, truth, tolerance: float = 0.07) -> float:
    """Share of `truth` times with a `found` time within `tolerance` (one-to-one is not needed here)."""
    found = np.asarray(found)
    return float(np.mean([np.min(np.abs(found - t)) <= tolerance for t in truth])) if len(found) else 0.0


def _grid(song: songs.Song, times: list[float], step: float) -> list[float]:
    """The ground-truth grid carried on to the end of the file (the tail after the last bar)."""
    extra = np.arange(times[-1] + step, song.duration, step)
    return list(times) + list(extra)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("music")


@pytest.fixture(scope="module")
def drums(folder):
    """bpm -> (song, analysis) for the plain groove, analysed once per module."""
    out = {}
    for bpm in (100, 128):
        song = songs.drum_pattern(bpm, seconds=20)
        out[bpm] = (song, analyze(song.write(folder / f"drums{bpm}.wav")))
    return out


@pytest.fixture(scope="module")
def structured(folder):
    song = songs.verse_chorus()
    wav = song.write(folder / "verse_chorus.wav")
    mp3 = folder / "verse_chorus.mp3"
    media.run_ffmpeg(["-i", wav, "-c:a", "libmp3lame", "-b:a", "128k", mp3])
    return song, analyze(mp3)


# --- analysis -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bpm", [100, 128])
def test_it_finds_the_beats_and_tempo_of_a_drum_pattern(drums, bpm):
    song, analysis = drums[bpm]
    assert _hits(analysis.beats, song.beats) >= 0.9
    assert _hits(_grid(song, song.beats, 60 / bpm), analysis.beats) >= 0.9, "most beats found are real beats"
    assert analysis.tempo == pytest.approx(bpm, rel=0.02)
    assert analysis.note == ""


def test_downbeats_fall_on_bar_starts(drums):
    song, analysis = drums[100]
    assert _hits(analysis.downbeats, song.downbeats) >= 0.9
    assert _hits(_grid(song, song.downbeats, 4 * 60 / 100), analysis.downbeats) >= 0.9


def test_one_looped_groove_is_one_section(drums):
    _, analysis = drums[128]
    assert [(s.start, s.label) for s in analysis.sections] == [(0.0, "A")]
    assert analysis.sections[0].end == analysis.duration


def test_a_quiet_part_then_a_loud_part_are_two_sections(folder):
    song = songs.quiet_then_loud()
    analysis = analyze(song.write(folder / "quiet_loud.wav"))
    starts = [s.start for s in analysis.sections]
    assert len(starts) == 2 and abs(starts[1] - song.boundaries[0]) <= 2.0
    quiet, loud = analysis.sections
    assert loud.energy == 1.0 and quiet.energy < 0.8
    assert analysis.loudness(0, starts[1]) < analysis.loudness(starts[1], analysis.duration)


def test_verse_and_chorus_are_told_apart_in_an_mp3(structured):
    song, analysis = structured
    assert analysis.tempo == pytest.approx(128, rel=0.02)
    assert len(analysis.sections) == len(song.boundaries) + 1
    for found, truth in zip([s.start for s in analysis.sections[1:]], song.boundaries, strict=True):
        assert abs(found - truth) <= 2.0
    assert [s.label for s in analysis.sections] == ["intro", "verse", "chorus", "verse", "chorus"]
    assert all(a.end == b.start for a, b in zip(analysis.sections, analysis.sections[1:], strict=False))


def test_the_envelope_has_ten_points_a_second_between_0_and_1(structured):
    _, analysis = structured
    assert len(analysis.envelope) == math.ceil(analysis.duration * 10)
    assert min(analysis.envelope) >= 0 and max(analysis.envelope) == 1.0


@pytest.mark.parametrize("kind, note", [
    ("silence", "silent"),
    ("noise", "No steady beat"),
    ("jingle", "too short (3.0 s)"),
])
def test_silence_noise_and_a_jingle_fall_back_to_an_even_grid(folder, kind, note):
    samples = {
        "silence": np.zeros(songs.SR * 15, dtype=np.float32),
        "noise": songs.white_noise(15),
        "jingle": songs.drum_pattern(120, seconds=3).samples[: songs.SR * 3],
    }[kind]
    analysis = analyze(songs.write_samples(samples, folder / f"{kind}.wav"))
    assert note in analysis.note and analysis.fell_back
    assert analysis.tempo is None
    assert analysis.duration == pytest.approx(len(samples) / songs.SR, abs=0.01)
    assert np.allclose(np.diff(analysis.beats), 0.5) and analysis.beats[0] == 0.0
    assert analysis.beats[-1] < analysis.duration
    assert [(s.start, s.end) for s in analysis.sections] == [(0.0, analysis.duration)]
    slots = plan_scenes(analysis, start=0, end=analysis.duration, durations=VEO)
    assert slots[-1].end == analysis.duration


def test_warm_up_runs_a_real_analysis_of_a_120_bpm_click():
    analysis = warm_up()
    assert analysis.note == "" and analysis.tempo == pytest.approx(120, rel=0.02)


def test_a_song_over_the_length_limit_gets_the_grid_and_its_whole_envelope(folder, monkeypatch):
    from mv.music import analysis as module

    monkeypatch.setattr(module, "MAX_SECONDS", 12.0)
    song = songs.drum_pattern(100, seconds=20)
    analysis = analyze(song.write(folder / "long.wav"))
    assert analysis.note.startswith("The song is too long to analyse") and analysis.tempo is None
    assert analysis.duration == pytest.approx(song.duration, abs=0.01)
    assert len(analysis.envelope) == math.ceil(song.duration * 10) and max(analysis.envelope) == 1.0


def test_an_unreadable_file_raises_a_plain_analysis_error(folder):
    bogus = folder / "not-a-song.mp3"
    bogus.write_text("hello, I am text")
    with pytest.raises(AnalysisError) as info:
        analyze(bogus)
    assert str(info.value) == "The song could not be read as audio."


def test_an_analysis_round_trips_through_json_with_times_in_ms(drums):
    _, analysis = drums[100]
    data = json.loads(json.dumps(analysis.to_dict()))
    assert data["version"] == ANALYSIS_VERSION
    assert all(round(t, 3) == t for t in data["beats"] + data["downbeats"] + [data["duration"]])
    again = Analysis.from_dict(data)
    assert again.to_dict() == data
    assert again.beats == pytest.approx(analysis.beats, abs=0.0006)
    assert again.tempo == pytest.approx(analysis.tempo, abs=0.001)


def test_a_fallback_round_trips_with_its_note():
    analysis = Analysis(duration=3.0, tempo=None, beats=(0.0, 0.5), downbeats=(0.0,),
                        sections=(Section(0.0, 3.0, "A", 1.0),), envelope=(0.5,), note="The song is silent; ...")
    assert Analysis.from_dict(json.loads(json.dumps(analysis.to_dict()))) == analysis


# --- the scene plan -----------------------------------------------------------------------------


def _check_plan(slots, start: float, end: float, durations=VEO) -> None:
    assert slots[0].start == pytest.approx(start, abs=0.001)
    assert end - 0.001 <= slots[-1].end <= end, "ends at the part's end, never past it"
    assert all(a.end == b.start for a, b in zip(slots, slots[1:], strict=False)), "no gaps, no overlaps"
    assert all(s.length <= max(durations) + 0.001 for s in slots)
    if end - start >= min(durations):
        assert all(s.length >= min(durations) - 0.001 for s in slots), "no scene shorter than a clip, the last included"
    else:
        assert len(slots) == 1


def test_plan_cuts_on_beats_and_never_passes_the_end_of_the_song(structured):
    _, analysis = structured
    slots = plan_scenes(analysis, start=3.0, end=analysis.duration + 30, durations=VEO)
    _check_plan(slots, 3.0, analysis.duration)
    beats = np.asarray(analysis.beats)
    for before, after in zip(slots, slots[1:], strict=False):
        assert _musical_cut(before, after, beats), f"cut at {after.start} is neither on the beat nor exact"
    assert np.mean([np.min(np.abs(beats - s.start)) <= 0.001 for s in slots[1:]]) >= 0.75, "most cuts on beats"


def test_plan_cuts_at_every_section_start(structured):
    _, analysis = structured
    cuts = {s.start for s in plan_scenes(analysis, start=0, end=analysis.duration, durations=VEO)}
    assert all(round(s.start, 3) in cuts for s in analysis.sections)


def test_slots_carry_their_section_energy_and_lyrics(structured):
    _, analysis = structured
    chorus = next(s for s in analysis.sections if s.label == "chorus")
    verse = next(s for s in analysis.sections if s.label == "verse")
    lines = [LyricLine(verse.start + 0.5, verse.start + 3.0, "first line"),
             LyricLine(verse.start + 3.0, verse.start + 5.0, "second line")]
    slots = plan_scenes(analysis, start=verse.start, end=chorus.end, durations=VEO, lyrics=lines)
    assert slots[0].section == "first verse" and slots[0].lyrics == "first line / second line"
    assert slots[-1].section == "first chorus" and slots[-1].lyrics == ""
    assert slots[-1].energy > slots[0].energy


def test_36_s_and_20_scenes_is_refused_with_the_numbers():
    with pytest.raises(PlanError) as info:
        plan_scenes(None, start=0, end=36, durations=VEO, count=20)
    assert str(info.value) == ("20 scenes of at least 4 s need 80 s; the chosen part of the song is 36 s. "
                               "Choose at most 9 scenes or a longer part.")


def test_too_few_scenes_to_cover_the_part_is_refused_with_the_numbers():
    with pytest.raises(PlanError) as info:
        plan_scenes(None, start=0, end=36, durations=VEO, count=3)
    assert str(info.value) == ("3 scenes of at most 8 s cover 24 s; the chosen part of the song is 36 s. "
                               "Choose at least 5 scenes or a shorter part.")


def test_every_count_that_fits_gives_exactly_that_many_scenes(structured):
    _, analysis = structured
    fewest, most = count_range(36.0, VEO)
    assert (fewest, most) == (5, 9)
    for count in range(fewest, most + 1):
        slots = plan_scenes(analysis, start=10, end=46, durations=VEO, count=count)
        assert len(slots) == count
        _check_plan(slots, 10, 46)


def test_the_end_is_clamped_to_the_song_and_a_start_past_it_is_refused(drums):
    _, analysis = drums[100]
    slots = plan_scenes(analysis, start=0, end=1000, durations=VEO)
    assert slots[-1].end == pytest.approx(analysis.duration, abs=0.001)
    with pytest.raises(PlanError, match="after the end of the song"):
        plan_scenes(analysis, start=analysis.duration + 1, end=1000, durations=VEO)
    with pytest.raises(PlanError, match="a scene needs at least 1 s"):
        plan_scenes(analysis, start=5, end=5.5, durations=VEO)


def test_without_an_analysis_scenes_are_an_even_grid_of_allowed_lengths():
    slots = plan_scenes(None, start=0, end=36, durations=VEO)
    assert [s.length for s in slots] == [8, 8, 8, 8, 4]
    assert all(s.section == "" and s.energy is None for s in slots)
    slots = plan_scenes(None, start=2, end=33, durations=VEO)
    assert all(s.length in VEO for s in slots[:-1]) and sum(s.length for s in slots) == pytest.approx(31)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(start=st.floats(0, 50), length=st.floats(1, 120), durations=st.sampled_from([[4, 6, 8], [5, 10], [8], [2, 3, 4, 5]]),
       pick=st.floats(0, 1), set_count=st.booleans())
def test_any_plan_that_is_made_covers_the_range_within_the_limits(start, length, durations, pick, set_count):
    fewest, most = count_range(length, durations)
    if fewest > most:  # e.g. 8.5 s with 8 s clips only: 8 + 0.5 leaves a last scene shorter than a clip
        with pytest.raises(PlanError):
            plan_scenes(None, start=start, end=start + length, durations=durations)
        return
    count = fewest + round(pick * (most - fewest)) if set_count else None
    slots = plan_scenes(None, start=start, end=start + length, durations=durations, count=count)
    _check_plan(slots, start, start + length, durations)
    if count is not None:
        assert len(slots) == count


def test_a_part_that_one_clip_length_cannot_cut_is_refused():
    with pytest.raises(PlanError) as info:
        plan_scenes(None, start=0, end=8.5, durations=[8])
    assert str(info.value) == ("The chosen part of the song (8.5 s) cannot be cut into scenes of 8 s; "
                               "make it a little shorter or longer.")
    with pytest.raises(PlanError, match="cannot be cut into scenes of 8 s"):
        plan_scenes(None, start=0, end=8.5, durations=[8], count=1)
    assert [s.length for s in plan_scenes(None, start=0, end=16, durations=[8])] == [8, 8]
    assert [s.length for s in plan_scenes(None, start=0, end=3, durations=[8])] == [3]  # the whole part is shorter


def test_clip_duration_is_the_shortest_allowed_that_covers_the_slot():
    assert clip_duration_for(3.2, VEO) == 4
    assert clip_duration_for(4.0, VEO) == 4
    assert clip_duration_for(4.0004, VEO) == 4  # times are kept to the ms
    assert clip_duration_for(6.5, [8, 4, 6]) == 8
    with pytest.raises(PlanError):
        clip_duration_for(8.5, VEO)


def test_scene_plan_text_has_one_line_per_scene_with_time_section_energy_and_lyrics(structured):
    _, analysis = structured
    verse = next(s for s in analysis.sections if s.label == "verse")
    slots = plan_scenes(analysis, start=verse.start, end=verse.start + 12, durations=VEO,
                        lyrics=[LyricLine(verse.start, verse.start + 2, "hold on")])
    lines = scene_plan_text(slots).splitlines()
    assert len(lines) == len(slots)
    assert lines[0].startswith(f"Scene 1: {verse.start:.1f}-{slots[0].end:.1f} s") and "verse" in lines[0]
    assert 'lyrics: "hold on"' in lines[0] and "energy 0." in lines[0]
    assert lines[-1].endswith("no lyrics")


# --- lyrics -------------------------------------------------------------------------------------


def test_lrc_lyrics_are_timed_by_their_stamps():
    text = """[ar:Someone]
[offset:+500]
[00:12.00]First line
[00:15.50][01:02.25]Chorus <00:15.80>line
[00:20.00]
[1:05]Last line
"""
    assert is_lrc(text)
    lines = parse_lyrics(text, duration=68.0)
    assert lines == [
        LyricLine(11.5, 15.0, "First line"),
        LyricLine(15.0, 19.5, "Chorus line"),  # ends at the empty stamp: a break
        LyricLine(61.75, 64.5, "Chorus line"),
        LyricLine(64.5, 68.0, "Last line"),  # held until the song ends
    ]


def test_plain_lyrics_are_spread_over_the_song():
    lines = parse_lyrics("la la\n\nla la la la\n", duration=30)
    assert not is_lrc("la la\n") and [line.text for line in lines] == ["la la", "la la la la"]
    assert lines[0].start == 0 and lines[0].end == pytest.approx(30 * 5 / 16)  # by length in characters
    assert lines[1].start == lines[0].end and lines[1].end == pytest.approx(30)


def test_transcription_segments_and_chunks_become_lines():
    segments = {"segments": [{"start": 1.0, "end": 3.5, "text": " Hello there "}, {"start": 4, "end": 6, "text": "again now"}]}
    assert from_transcription(segments) == [LyricLine(1.0, 3.5, "Hello there"), LyricLine(4.0, 6.0, "again now")]
    chunks = {"text": "...", "chunks": [{"timestamp": [0.5, 2.0], "text": "we go"}, {"timestamp": [2.0, None], "text": "on and on"}]}
    assert from_transcription(chunks) == [LyricLine(0.5, 2.0, "we go"), LyricLine(2.0, 2.5, "on and on")]
    with pytest.raises(ValueError):
        from_transcription({"text": "no timestamps"})


def test_transcribed_words_are_grouped_into_lines_at_pauses_and_sentence_ends():
    words = [{"start": 0.0, "end": 0.3, "word": "I"}, {"start": 0.3, "end": 0.6, "word": "see"},
             {"start": 0.6, "end": 1.0, "word": "you."}, {"start": 1.1, "end": 1.4, "word": "Come"},
             {"start": 1.4, "end": 1.8, "word": "home"}, {"start": 3.0, "end": 3.5, "word": "soon"}]
    lines = from_transcription({"words": words})
    assert [(line.start, line.end, line.text) for line in lines] == [
        (0.0, 1.0, "I see you."), (1.1, 1.8, "Come home"), (3.0, 3.5, "soon")]
    assert lines[1].words == ((1.1, 1.4, "Come"), (1.4, 1.8, "home"))  # kept for word-timed captions


def test_a_line_belongs_to_the_slots_it_is_mostly_sung_in():
    line = LyricLine(7.0, 9.0, "across the cut")
    first, second = plan_scenes(None, start=0, end=16, durations=[8])
    assert lyrics_in(first, [line]) == [line] and lyrics_in(second, [line]) == [line]  # 1 s in each
    short = LyricLine(7.8, 8.3, "mostly after")
    assert lyrics_in(first, [short]) == [] and lyrics_in(second, [short]) == [short]


def test_media_helper_is_what_decodes_so_any_ffmpeg_format_works(folder):
    """The analysis reads through ffmpeg (librosa 1.0 reads only what libsndfile reads)."""
    song = songs.drum_pattern(100, seconds=10)
    m4a = folder / "drums.m4a"
    proc = subprocess.run([media.ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(song.write(folder / "d10.wav")),
                           "-c:a", "aac", str(m4a)], capture_output=True)
    assert proc.returncode == 0
    analysis = analyze(m4a)
    assert analysis.tempo == pytest.approx(100, rel=0.02) and analysis.duration == pytest.approx(song.duration, abs=0.1)


# --- plans that waste nothing and cut where the music turns ---------------------------------------


def _synthetic(bpm: float, duration: float, section_bars: list[int], labels: list[str], meter: int = 4,
               first_beat: float = 0.3) -> Analysis:
    """An analysis as a steady song at `bpm` would get: beats, bar starts, sections of so many bars."""
    period = 60.0 / bpm
    beats = tuple(float(t) for t in np.arange(first_beat, duration, period))
    downbeats = beats[::meter]
    starts = [0.0]
    for bars in section_bars[:-1]:
        starts.append(downbeats[min(len(downbeats) - 1, starts_index(downbeats, starts[-1]) + bars)])
    ends = starts[1:] + [duration]
    sections = tuple(Section(round(s, 3), round(e, 3), label, 1.0) for s, e, label in zip(starts, ends, labels, strict=True))
    return Analysis(duration=duration, tempo=bpm, beats=beats, downbeats=downbeats, sections=sections,
                    envelope=tuple([0.5] * int(duration * 10)))


def starts_index(downbeats, t: float) -> int:
    return int(np.argmin(np.abs(np.asarray(downbeats) - t)))


SONG_FORM = [8, 8, 8, 4, 8, 8, 8, 8]  # bars: intro, verse, chorus, short break, verse, chorus, bridge, chorus
SONG_LABELS = ["intro", "verse", "chorus", "break", "verse", "chorus", "bridge", "chorus"]


def _least_trimmed(stretches: list[float], durations=VEO) -> float:
    """The fewest seconds any plan can trim off clips covering stretches of these lengths
    (each stretch is covered by its own clips: its ends are cuts)."""
    total = 0.0
    for length in stretches:
        sums = {0}
        while max(sums) < length:
            sums |= {t + d for t in sums for d in durations}
        total += min(t for t in sums if t >= length - 0.001) - length
    return total


@pytest.mark.parametrize("bpm", [70, 84, 97, 110, 120, 128, 150, 174])
def test_plans_trim_no_more_than_the_section_starts_force(bpm):
    bars = sum(SONG_FORM) + 2
    analysis = _synthetic(bpm, 0.3 + bars * 4 * 60 / bpm + 1.234, SONG_FORM + [2], SONG_LABELS + ["outro"])
    slots = plan_scenes(analysis, start=0, end=analysis.duration, durations=VEO)
    _check_plan(slots, 0, analysis.duration)
    fixed = [0.0, *required_cuts([s.start for s in analysis.sections[1:]], 0.0, slots[-1].end, 4), slots[-1].end]
    assert len(fixed) >= 8 and set(fixed) <= {s.start for s in slots} | {slots[-1].end}
    paid, trimmed = paid_seconds(slots, VEO)
    least = _least_trimmed([b - a for a, b in zip(fixed, fixed[1:], strict=False)])
    assert trimmed <= least + 0.01, f"{trimmed:.2f} s trimmed at {bpm} BPM where {least:.2f} s is the least"
    beats = np.asarray(analysis.beats)
    for before, after in zip(slots, slots[1:], strict=False):
        assert _musical_cut(before, after, beats), after.start
    if bpm == 120:  # 8 bars are 16 s: from the first section start to the last every scene is exactly a clip
        assert all(round(s.length, 3) in VEO for s in slots if fixed[1] <= s.start < fixed[-2])


def _musical_cut(before, after, beats) -> bool:
    """A cut on a beat or half way between two, or one that makes a scene exactly a clip's length."""
    halves = (beats[1:] + beats[:-1]) / 2
    return bool(min(np.min(np.abs(beats - after.start)), np.min(np.abs(halves - after.start))) < 0.002
                or any(abs(s.length - d) < 0.002 for s in (before, after) for d in VEO))


def test_every_section_start_away_from_the_ends_and_the_next_start_is_a_cut():
    analysis = _synthetic(97, 120.0, [8, 8, 1, 8, 8, 30], ["intro", "verse", "fill", "chorus", "verse", "chorus"])
    starts = [s.start for s in analysis.sections[1:]]
    for part in ((0.0, 120.0), (5.0, 100.0), (starts[1] - 3.0, starts[3] + 9.0)):
        slots = plan_scenes(analysis, start=part[0], end=part[1], durations=VEO)
        cuts = {s.start for s in slots[1:]}
        for k, t in enumerate(starts):
            following = min(starts[k + 1:] + [part[1]])
            if t - part[0] >= 4 and following - t >= 4:
                assert round(t, 3) in cuts, f"section start {t} inside a scene of the part {part}"
        fill = starts[1]  # a one-bar fill (2.5 s) before the chorus: no room for a scene of its own
        assert fill not in cuts


def test_section_starts_are_cuts_with_a_scene_count_too_and_labels_name_where_a_scene_mostly_is():
    analysis = _synthetic(120, 64.0, [8, 8, 8, 8], ["verse", "chorus", "verse", "chorus"], first_beat=0.0)
    slots = plan_scenes(analysis, start=0, end=64, durations=VEO, count=8)
    assert len(slots) == 8 and {16.0, 32.0, 48.0} <= {s.start for s in slots}
    assert [s.section for s in slots] == ["first verse"] * 2 + ["first chorus"] * 2 + ["second verse"] * 2 + [
        "second chorus"] * 2
    assert all(s.length == 8 for s in slots)
    assert paid_seconds(slots, VEO) == (64, 0.0)
    lines = scene_plan_text(slots).splitlines()
    assert "second chorus" in lines[-1]


def test_a_scene_across_a_close_section_start_is_named_for_the_section_it_is_mostly_in():
    analysis = _synthetic(120, 30.0, [4, 1, 11], ["intro", "E", "F"], first_beat=0.0)  # E is 2 s: no scene of its own
    slots = plan_scenes(analysis, start=0, end=30, durations=VEO)
    for slot in slots:
        overlap = {s.label: min(slot.end, s.end) - max(slot.start, s.start) for s in analysis.sections}
        assert slot.section == max(overlap, key=overlap.get)


def test_no_scene_is_shorter_than_the_shortest_clip_the_last_included():
    analysis = _synthetic(97, 61.55, [40], ["A"])
    for end in (61.55, 50.3, 41.7, 13.1, 9.2):
        slots = plan_scenes(analysis, start=0, end=end, durations=VEO)
        assert all(s.length >= 4 - 0.001 for s in slots), [s.length for s in slots]
    assert [s.length for s in plan_scenes(analysis, start=10, end=12.5, durations=VEO)] == [2.5]


def test_a_plan_ends_exactly_at_the_parts_end_and_never_past_the_file():
    analysis = _synthetic(100, 223.8934, [120], ["A"])
    slots = plan_scenes(analysis, start=0, end=223.8934, durations=VEO)
    assert slots[-1].end == 223.893
    assert round(slots[-1].end, 3) <= 223.8934 and Slot(0, slots[-1].end, "", None, "").to_dict()["end"] <= 223.8934
    assert analysis.to_dict()["duration"] <= 223.8934  # stored durations are floored to the ms, not rounded up


def test_a_waltz_has_three_beats_to_the_bar_and_its_downbeats_on_them(folder):
    song = songs.waltz(132, seconds=24)
    found = analyze(song.write(folder / "waltz.wav"))
    assert found.meter == 3
    assert _hits(found.beats, song.beats) >= 0.9
    assert _hits(found.downbeats, song.downbeats) >= 0.8
    assert found.to_dict()["meter"] == 3


@pytest.mark.parametrize("bpm", [100, 128])
def test_a_four_four_groove_stays_in_four(drums, bpm):
    _, analysis = drums[bpm]
    assert analysis.meter == 4


def test_swung_eighths_put_the_beat_on_the_note_after_the_short_gap(folder):
    """The swung off-beat is the louder note here; a tracker that follows loudness beats on it."""
    song = songs.shuffle(120, seconds=24)
    found = analyze(song.write(folder / "shuffle.wav"))
    assert abs(found.tempo - 120) < 2
    assert _hits(found.beats, song.beats) >= 0.9
    assert _hits(found.downbeats, song.downbeats) >= 0.8


def test_a_tempo_that_changes_midway_is_followed_beat_by_beat(folder):
    song = songs.tempo_change(100, 130, seconds=30)
    found = analyze(song.write(folder / "change.wav"))
    half = song.beats.index(next(t for t in song.beats if t >= song.boundaries[0]))
    assert _hits(found.beats, song.beats[:half]) >= 0.9
    assert _hits(found.beats, song.beats[half:]) >= 0.9
    steps = np.diff(found.beats)
    assert np.median(steps[np.asarray(found.beats[1:]) < song.boundaries[0] - 2]) == pytest.approx(0.6, abs=0.02)
    assert np.median(steps[np.asarray(found.beats[:-1]) > song.boundaries[0] + 2]) == pytest.approx(60 / 130, abs=0.02)


def _pulses(times, amps, seconds: float, rate: float = 22050 / 512) -> np.ndarray:
    """An onset envelope with a pulse at each time (and half of it a frame later)."""
    env = np.zeros(int(seconds * rate) + 2, dtype=np.float32)
    for t, a in zip(times, amps, strict=True):
        i = int(round(t * rate))
        env[i] += a
        env[i + 1] += a / 2
    return env


def test_a_louder_off_beat_gives_way_to_the_beat_the_bass_is_on():
    from mv.music import beats

    on_beat = np.arange(0.2, 30, 0.5)
    off_beat = on_beat + 0.25
    onset = _pulses([*on_beat, *off_beat], [0.6] * len(on_beat) + [1.0] * len(off_beat), 30)
    found = beats.track(onset, _pulses(on_beat, [1.0] * len(on_beat), 30), 22050, 512)
    assert found.tempo == pytest.approx(120, abs=1)
    assert _hits(found.times, on_beat[1:-1], tolerance=0.05) >= 0.95


def test_accents_every_third_eighth_do_not_make_the_beat_a_dotted_one(monkeypatch):
    """Eighths at 170 BPM accented every third one (a 3-3-2 feel) pull the tracker to 113 BPM,
    three sub-pulses to its beat; the listener's beat is two of them."""
    from mv.music import beats

    eighths = np.arange(0.2, 30, 60 / 170 / 2)
    accents = [1.0 if k % 3 == 0 else 0.45 for k in range(len(eighths))]
    onset, low = _pulses(eighths, accents, 30), _pulses(eighths[::3], [1.0] * len(eighths[::3]), 30)
    assert beats.track(onset, low, 22050, 512).tempo == pytest.approx(170, rel=0.02)
    monkeypatch.setattr(beats, "_ternary", lambda *args: None)
    assert beats.track(onset, low, 22050, 512).tempo == pytest.approx(170 * 2 / 3, rel=0.02)


def test_the_analysis_made_in_small_blocks_is_the_analysis_made_in_one(folder, monkeypatch):
    """The features are made block by block (flat memory): blocks of 3 s give what 48 s blocks give."""
    from mv.music import features

    path = songs.verse_chorus().write(folder / "song.wav")
    whole = analyze(path)
    monkeypatch.setattr(features, "BLOCK", 128 * features.HOP)
    pieces = analyze(path)
    assert pieces.beats == whole.beats and pieces.downbeats == whole.downbeats
    assert pieces.sections == whole.sections and pieces.envelope == pytest.approx(whole.envelope, abs=1e-6)
    assert max(pieces.beats) < pieces.duration


def test_block_features_are_librosas_on_the_whole_song():
    import librosa

    from mv.music import features

    y = songs.verse_chorus().samples[:features.SR * 30]
    source = features.array_source(y)
    level = features.loudness(source)
    spectral = features.spectral(source, level.mel_top)
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=512)) ** 2
    logmel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=features.SR, n_mels=128))
    assert np.allclose(spectral.onset, librosa.onset.onset_strength(S=logmel, sr=features.SR), atol=1e-4)
    frames = np.arange(10, len(spectral.onset) - 10, 21)
    harmony = features.harmony(source, len(spectral.onset), frames, frames)
    cqt = np.abs(librosa.cqt(y=y, sr=features.SR, hop_length=512, bins_per_octave=36, n_bins=7 * 36, tuning=0.0))
    synced = librosa.util.sync(librosa.amplitude_to_db(cqt, ref=np.max), frames, aggregate=np.median)
    # the same to 0.01 dB, but where a median of an even count straddles the -80 dB floor
    differ = np.abs(harmony.cqt_db - synced) > 0.01
    assert differ.mean() < 0.01 and (synced[differ] < -70).all()
