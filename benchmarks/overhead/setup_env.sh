#!/usr/bin/env bash
# Build the benchmark environment: .venv-bench at the repository root, with agentwatch and every
# adapter installed editable, plus the peers the overhead benchmarks compare with
# (requirements-peers.txt). The peers live only here, never in agentwatch's dependencies.
#
#   benchmarks/overhead/setup_env.sh && .venv-bench/bin/python -m benchmarks.overhead
#
# Re-running it updates the environment in place. BENCH_VENV overrides the location.
set -euo pipefail
shopt -s nullglob
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
venv="${BENCH_VENV:-.venv-bench}"
py="$venv/bin/python"

python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "setup_env: Python 3.10 or newer is needed (found $(python3 --version 2>&1))" >&2; exit 2; }
if [ ! -x "$py" ]; then
  echo "setup_env: creating $venv ..." >&2
  python3 -m venv "$venv"
fi
"$py" -m pip install --quiet --disable-pip-version-check --upgrade uv
editables=(-e .)
for a in adapters/*/; do editables+=(-e "$a"); done
echo "setup_env: installing agentwatch, its adapters and the peers into $venv ..." >&2
"$venv/bin/uv" pip install --quiet --python "$py" "${editables[@]}" -r "$here/requirements-peers.txt"
"$py" - <<'PY'
import importlib
peers = {
    "OpenInference": "openinference.instrumentation.langchain",
    "OpenLLMetry": "opentelemetry.instrumentation.langchain",
    "Langfuse": "langfuse.langchain",
    "official OpenAI instrumentation": "opentelemetry.instrumentation.openai_v2",
}
for label, module in peers.items():
    importlib.import_module(module)
    print(f"setup_env: {label}: {module} imports")
PY
echo "setup_env: ready; run: $py -m benchmarks.overhead" >&2
