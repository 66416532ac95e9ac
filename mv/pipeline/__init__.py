"""The use cases, one module per concern; views, the JSON API and commands call these.

- ``projects``: create a project, start its automatic run, write or rewrite scenes; rename,
  duplicate, delete, stop.
- ``rendering``: render, retry, cancel, make current, regenerate, lipsync, import a clip.
- ``timeline``: split, move, duplicate and delete scenes; bring the video up to date.
- ``stitching``: stitch clips under the song, re-stitch a project.
- ``characters``: character reference images.
- ``songs``: a song's lyrics (transcribe, paste).
- ``spending``: estimates, the daily budget check, what was spent.
- ``followups``: what happens when a prediction finishes (next clip, re-stitch) or a song is
  analysed (transcribe its lyrics).

They raise ``mv.errors.Refused`` (a code and a plain message) for anything the caller
asked that cannot be done; the API and the pages show it as it is.
"""
