"""``python -m agentwatch.fake_provider``: run the fake provider until interrupted."""

from __future__ import annotations

import argparse
import sys
import threading

from .scenario import Latency
from .server import FakeProvider


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agentwatch.fake_provider",
        description="Serve fake OpenAI and Anthropic APIs on 127.0.0.1 (no API keys, no network).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the generated answers (default 0)")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first token")
    parser.add_argument("--per-token", type=float, default=0.0, help="seconds per output token")
    parser.add_argument("--jitter", type=float, default=0.0, help="relative latency jitter, 0..1")
    args = parser.parse_args(argv)
    if not 0 <= args.jitter <= 1:
        parser.error("--jitter must be between 0 and 1")
    latency = Latency(ttft=args.ttft, per_token=args.per_token, jitter=args.jitter)
    try:
        fp = FakeProvider(seed=args.seed, host=args.host, port=args.port, latency=latency).start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"fake provider listening on {fp.url}", flush=True)
    print(f"  OPENAI_BASE_URL={fp.openai_base_url}", flush=True)
    print(f"  ANTHROPIC_BASE_URL={fp.anthropic_base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
