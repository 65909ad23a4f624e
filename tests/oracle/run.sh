#!/usr/bin/env bash
# ctest's entry to the Keras oracle suite (keras_oracle.py): picks a Python
# that has Keras and TensorFlow, or exits 77 (ctest: skipped) when none does.
#   $SOMA_KERAS_PYTHON, else <repo>/.venv-keras/bin/python, else python3
# Arguments are passed on (e.g. -k 'loss huber' -v).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

py="${SOMA_KERAS_PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$root/.venv-keras/bin/python" ]; then
    py="$root/.venv-keras/bin/python"
  else
    py=python3
  fi
fi

# The import is the real test of "installed": a venv without TensorFlow, or a
# TensorFlow that cannot load, both count as absent. Its log noise is dropped.
if ! TF_CPP_MIN_LOG_LEVEL=3 CUDA_VISIBLE_DEVICES=-1 KERAS_BACKEND=tensorflow \
     "$py" -c 'import keras, tensorflow' >/dev/null 2>&1; then
  echo "keras_oracle: SKIPPED — Keras/TensorFlow not installed (run SOMA_WITH_KERAS=1 tools/run test to install them)"
  exit 77
fi

exec "$py" "$here/keras_oracle.py" "$@"
