"""Run one application through the copilot and print what it wrote: ``python -m examples.job_copilot``."""

from __future__ import annotations

import argparse

from .app import Copilot, applications


def main() -> None:
    first = applications()[0]
    parser = argparse.ArgumentParser(prog="python -m examples.job_copilot", description=__doc__)
    parser.add_argument(
        "--profile", default=first["profile_id"], help="a profile id from data/profiles.jsonl"
    )
    parser.add_argument("--job", default=first["job_id"], help="a posting id from data/jobs.jsonl")
    parser.add_argument(
        "--offline", action="store_true", help="use the bundled fake provider even with API keys"
    )
    args = parser.parse_args()
    with Copilot(offline=args.offline) as copilot:
        result = copilot.run({"profile_id": args.profile, "job_id": args.job})
    print(f"match score: {result['match_score']:.2f} (matched {', '.join(result['matched_skills'])})")
    print("similar openings:", ", ".join(f"{j['title']} at {j['company']}" for j in result["similar_jobs"]))
    print("\n" + result["resume"])
    print("\n" + (result.get("cover_letter") or "(weak match: no cover letter)"))


if __name__ == "__main__":
    main()
