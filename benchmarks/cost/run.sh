#!/usr/bin/env bash
# The job-copilot cost benchmark (see README.md).
#   benchmarks/cost/run.sh            re-run it and compare with the committed baseline:
#                                     exits 1 when the cost per run grew more than 5%
#   benchmarks/cost/run.sh --update   re-run it and replace the committed baseline in results/
# Extra arguments go to `agentwatch bench` (e.g. --max-regression 2%).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
# Offline (the bundled fake provider) unless JOB_COPILOT_OFFLINE=0 and API keys are set.
export JOB_COPILOT_OFFLINE="${JOB_COPILOT_OFFLINE:-1}"
bench=(
  -m agentwatch.cli bench examples.job_copilot.workload:graph
  --inputs examples/job_copilot/data/applications.jsonl
  --runs 2
  --models gpt-4o,gpt-4o-mini,claude-haiku-4-5,claude-sonnet-4-5
  --price-date 2026-11-23
)
if [ "${1:-}" = "--update" ]; then
  shift
  "$PY" "${bench[@]}" --out benchmarks/cost/results "$@"
  rm -f benchmarks/cost/results/spans.jsonl   # the calls themselves are not part of the baseline
else
  "$PY" "${bench[@]}" --out .agentwatch/bench/job_copilot --baseline benchmarks/cost/results/results.json "$@"
fi
