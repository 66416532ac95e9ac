"""The use cases, one module per concern; views, the JSON API and commands call these.

- ``projects``: create a project, start its automatic run, write or rewrite scenes.
- ``rendering``: render, retry, cancel, make current, regenerate, lipsync, import a clip.
- ``stitching``: stitch clips under the song, re-stitch a project.
- ``characters``: character reference images.
- ``followups``: what happens when a prediction finishes (next clip, re-stitch).

They raise ``mv.errors.Refused`` (a code and a plain message) for anything the caller
asked that cannot be done; the API and the pages show it as it is.
"""
