"""The copilot's LangGraph workflow.

    START -> analyze_job -> match_profile -> optimize_resume --(strong match)--> write_cover_letter -> END
                                                          \\--(weak match)----> END

- ``analyze_job`` (OpenAI, a reasoning model): extracts the posting's requirements as structured
  JSON; the model may call the ``lookup_company`` tool first.
- ``match_profile``: embeds the candidate's resume and searches the indexed postings for similar
  openings (OpenAI embeddings + a vector store), and scores the skill match.
- ``optimize_resume`` (Anthropic, system prompt marked for caching): rewrites the resume
  highlights. Its node has a retry policy for transient provider errors (rate limits, overload).
- ``write_cover_letter`` (OpenAI, streamed): only for matches at or above ``MATCH_THRESHOLD``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy

import agentwatch

from . import prompts

GRAPH_NAME = "job_copilot"
MATCH_THRESHOLD = 0.5
"""Share of the posting's skills the candidate must have for the copilot to write a cover letter."""
SIMILAR_JOBS = 3
TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class Application(TypedDict, total=False):
    """The workflow's state: the input ids, then what each node adds."""

    profile_id: str
    job_id: str
    requirements: dict[str, Any]
    company: dict[str, Any]
    similar_jobs: list[dict[str, Any]]
    match_score: float
    matched_skills: list[str]
    missing_skills: list[str]
    resume: str
    cover_letter: str | None


def is_transient(exc: BaseException) -> bool:
    """Retry rate limits, overload and server errors, and dropped connections; nothing else."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in TRANSIENT_STATUS
    return type(exc).__name__ in ("APIConnectionError", "APITimeoutError")


class Nodes:
    """The node functions, bound to the copilot's clients, data and models."""

    def __init__(self, copilot: Any) -> None:
        self.c = copilot

    # --- analyze_job ----------------------------------------------------------------------------
    def analyze_job(self, state: Application) -> dict[str, Any]:
        job = self.c.job(state["job_id"])
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompts.ANALYZE_SYSTEM},
            {"role": "user", "content": prompts.analyze_user(job)},
        ]
        company: dict[str, Any] = {}
        for _ in range(3):  # at most one tool round trip is expected; never loop forever
            response = self.c.openai.chat.completions.create(
                model=self.c.models.analyze,
                messages=messages,
                tools=[prompts.LOOKUP_COMPANY_TOOL],
                response_format=prompts.REQUIREMENTS_SCHEMA,
                reasoning_effort="low",
            )
            message = response.choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                try:
                    args = json.loads(call.function.arguments or "{}")
                except json.JSONDecodeError:
                    args = {}
                # The model may not spell the name as our database does: fall back to the posting's.
                found = lookup_company(self.c.companies, str(args.get("company") or ""), job["company"])
                company = found
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(found)})
        requirements = _parse_json(message.content)
        requirements.setdefault("title", job["title"])
        requirements.setdefault("company", job["company"])
        if not company:
            company = lookup_company(self.c.companies, job["company"], job["company"])
        return {"requirements": requirements, "company": company}

    # --- match_profile ---------------------------------------------------------------------------
    def match_profile(self, state: Application) -> dict[str, Any]:
        job = self.c.job(state["job_id"])
        profile = self.c.profile(state["profile_id"])
        hits = self.c.search_postings(profile["resume"], k=SIMILAR_JOBS + 1)
        similar = [
            {
                "job_id": doc.id,
                "title": doc.metadata["title"],
                "company": doc.metadata["company"],
                "score": round(float(score), 4),
            }
            for doc, score in hits
            if doc.id != job["id"]
        ][:SIMILAR_JOBS]
        wanted = _unique([*job["skills"], *state.get("requirements", {}).get("must_have_skills", [])])
        have = {s.lower() for s in profile["skills"]}
        matched = [s for s in job["skills"] if s.lower() in have]
        missing = [s for s in wanted if s.lower() not in have]
        score = len(matched) / len(job["skills"]) if job["skills"] else 0.0
        return {
            "similar_jobs": similar,
            "match_score": round(score, 4),
            "matched_skills": matched,
            "missing_skills": missing[:8],
        }

    # --- optimize_resume -------------------------------------------------------------------------
    def optimize_resume(self, state: Application) -> dict[str, Any]:
        profile = self.c.profile(state["profile_id"])
        message = self.c.anthropic.messages.create(
            model=self.c.models.resume,
            max_tokens=1024,
            system=[{"type": "text", "text": prompts.RESUME_SYSTEM, "cache_control": {"type": "ephemeral"}}],
            messages=[
                {
                    "role": "user",
                    "content": prompts.resume_user(
                        profile, state["requirements"], state.get("missing_skills", [])
                    ),
                }
            ],
        )
        text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
        return {"resume": text}

    # --- write_cover_letter ----------------------------------------------------------------------
    def write_cover_letter(self, state: Application) -> dict[str, Any]:
        job = self.c.job(state["job_id"])
        profile = self.c.profile(state["profile_id"])
        stream = self.c.openai.chat.completions.create(
            model=self.c.models.cover_letter,
            messages=[
                {"role": "system", "content": prompts.COVER_LETTER_SYSTEM},
                {
                    "role": "user",
                    "content": prompts.cover_letter_user(
                        job, profile, state["requirements"], state.get("company", {}), state["resume"]
                    ),
                },
            ],
            temperature=0.7,
            max_tokens=700,
            stream=True,
            stream_options={"include_usage": True},
        )
        parts = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
        return {"cover_letter": "".join(parts)}


def route_after_resume(state: Application) -> str:
    """The conditional edge: weak matches get an optimised resume but no cover letter."""
    return "write_cover_letter" if state.get("match_score", 0.0) >= MATCH_THRESHOLD else END


@agentwatch.track_tool(name="lookup_company", description="Company facts from the copilot's database")
def lookup_company(companies: Mapping[str, dict[str, Any]], name: str, fallback: str) -> dict[str, Any]:
    """The tool the analysis model may call: a lookup in the bundled company notes."""
    for candidate in (name, fallback):
        for known, facts in companies.items():
            if candidate and candidate.strip().lower() == known.lower():
                return {"company": known, **facts}
    return {"company": name or fallback, "note": "not in the company database"}


def build_graph(copilot: Any, *, retry_initial_interval: float = 0.05) -> Any:
    """Compile the workflow for ``copilot`` (an :class:`~examples.job_copilot.app.Copilot`)."""
    nodes = Nodes(copilot)
    builder = StateGraph(Application)
    builder.add_node("analyze_job", nodes.analyze_job)
    builder.add_node("match_profile", nodes.match_profile)
    builder.add_node(
        "optimize_resume",
        nodes.optimize_resume,
        retry_policy=RetryPolicy(
            max_attempts=3, initial_interval=retry_initial_interval, backoff_factor=2.0, retry_on=is_transient
        ),
    )
    builder.add_node("write_cover_letter", nodes.write_cover_letter)
    builder.add_edge(START, "analyze_job")
    builder.add_edge("analyze_job", "match_profile")
    builder.add_edge("match_profile", "optimize_resume")
    builder.add_conditional_edges("optimize_resume", route_after_resume, ["write_cover_letter", END])
    builder.add_edge("write_cover_letter", END)
    return builder.compile(name=GRAPH_NAME)


def _parse_json(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if isinstance(item, str) and item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out
