#!/usr/bin/env bash
# Create .venv and install the course into it. Called by `make` only when
# pyproject.toml, constraints.txt or this file changed (see the Makefile).
#
# torch is chosen here, before anything else can pull it in:
#   * a torch already in the venv is kept (e.g. the user's CUDA build);
#   * with an NVIDIA GPU, TORCH_GPU_SPEC (default: latest torch from PyPI, a CUDA build);
#   * without one, TORCH_SPEC (default torch==2.13.0, the CPU wheel on this
#     course's machines). Elsewhere, set TORCH_INDEX to PyTorch's CPU wheel
#     index so a CPU-only laptop does not download the multi-GB CUDA build.
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_GPU_SPEC=${TORCH_GPU_SPEC:-torch>=2.4}
TORCH_INDEX=${TORCH_INDEX:-}

if [ ! -x "$VENV/bin/python" ]; then
    echo ">> creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

if "$PY" -c "import torch" 2>/dev/null; then
    echo ">> keeping installed $("$PY" -c 'import torch; print("torch", torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo ">> NVIDIA GPU found: installing $TORCH_GPU_SPEC (CUDA build)"
    pip_install "$TORCH_GPU_SPEC"
else
    echo ">> no NVIDIA GPU: installing $TORCH_SPEC (CPU)"
    if [ -n "$TORCH_INDEX" ]; then
        pip_install "$TORCH_SPEC" --index-url "$TORCH_INDEX"
    else
        pip_install "$TORCH_SPEC"
    fi
fi

echo ">> installing the course (pinned by constraints.txt)"
pip_install -c constraints.txt -e ".[dev,onnx,controlnet,distributed,serving,monitor,hub,playground]"
# olah (chapter 10's local Hub mirror) needs psutil<6, IPython needs >=7: its own venv.
echo ">> installing olah into its own venv (recipes/hub/olah-requirements.txt)"
"$PY" -c "from recipes.hub.mirror import ensure_olah; ensure_olah()"
"$PY" -c "import recipes, torch; print('>> ready:', 'torch', torch.__version__, \
'| cuda' if torch.cuda.is_available() else '| cpu')"
