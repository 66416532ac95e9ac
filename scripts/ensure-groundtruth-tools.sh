#!/usr/bin/env bash
# The analysis bench's ground truth is rendered from Debian's openttd-openmsx MIDI scores with
# FluidSynth and the FluidR3 General MIDI soundfont. Install them when missing and we are root;
# otherwise say what to install.
set -u
if command -v fluidsynth >/dev/null 2>&1 && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] \
   && [ -d /usr/share/games/openttd/baseset/openmsx ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing openttd-openmsx, fluidsynth and fluid-soundfont-gm for the analysis bench..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq openttd-openmsx fluidsynth fluid-soundfont-gm >/dev/null && exit 0
fi
echo "Install openttd-openmsx, fluidsynth and fluid-soundfont-gm (Debian packages) to render the ground truth." >&2
exit 1
