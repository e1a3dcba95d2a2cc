"""Canned model output: text chosen by keywords, JSON filled from schemas, thinking text.

Everything is a pure function of the request text and the server seed, so a given request always
gets the same answer from a server started with the same seed.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping
from typing import Any

TOPICS = ("cover_letter", "resume", "interview", "job_analysis", "generic")

_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cover_letter", ("cover letter", "motivation letter", "covering letter")),
    ("resume", ("resume", "résumé", "curriculum", " cv", "bullet point", "bullets", "work experience")),
    ("interview", ("interview",)),
    (
        "job_analysis",
        ("job posting", "job description", "job ad", "posting", "requirements", "skills", "qualifications"),
    ),
)

_ANSWERS: dict[str, tuple[str, ...]] = {
    "job_analysis": (
        "Here is what the posting asks for, ranked by how often and how prominently it is mentioned:\n\n"
        "**Must-have skills**\n"
        "- Python (5+ years), including async services and packaging\n"
        "- PostgreSQL: schema design, query tuning, migrations\n"
        "- REST and event-driven APIs (FastAPI, Kafka)\n"
        "- Cloud infrastructure on AWS (ECS, RDS, S3) with Terraform\n"
        "- Observability: metrics, tracing and on-call ownership\n\n"
        "**Nice to have**\n"
        "- Kubernetes and Helm\n"
        "- Experience with LLM-backed features or retrieval pipelines\n"
        "- Mentoring junior engineers\n\n"
        "**Signals**: the role is senior individual-contributor level, hybrid (2 days on site), and the "
        "team values ownership of production systems over greenfield work.",
        "Key requirements extracted from the job description:\n\n"
        "1. **Backend engineering** - Python or Go, 4+ years building production services\n"
        "2. **Data** - SQL (PostgreSQL preferred), data modelling, caching with Redis\n"
        "3. **Platform** - Docker, CI/CD pipelines, infrastructure as code\n"
        "4. **Quality** - automated testing, code review, incident post-mortems\n"
        "5. **Collaboration** - works with product and design, communicates trade-offs clearly\n\n"
        "Soft skills mentioned: ownership, clear written communication, curiosity.\n"
        "Keywords worth mirroring in your application: *scalable*, *reliability*, *cross-functional*, "
        "*mentoring*.",
    ),
    "resume": (
        "Here are your experience bullets, rewritten to match the posting (action verb, scope, result):\n\n"
        "- Led the migration of a monolithic billing service to six Python microservices, cutting "
        "deployment time from 2 hours to 12 minutes\n"
        "- Designed PostgreSQL partitioning for 1.2B-row event tables, reducing p95 query latency by 63%\n"
        "- Built an OpenTelemetry tracing and alerting stack adopted by 9 teams, halving mean time to "
        "resolution\n"
        "- Mentored 4 junior engineers through structured code reviews and pairing sessions\n"
        "- Shipped an LLM-powered support assistant that now resolves 28% of tickets without escalation",
        "Optimised resume bullets (keywords from the posting in bold):\n\n"
        "- Owned the **reliability** of a payments API serving 3,000 requests per second at 99.98% uptime\n"
        "- Reduced AWS spend by 31% by right-sizing **ECS** tasks and adding **Redis** caching\n"
        "- Introduced **CI/CD** with automated contract tests, raising release frequency from weekly "
        "to daily\n"
        "- Partnered with product and design (**cross-functional**) to launch self-serve onboarding, "
        "lifting activation by 18%\n"
        "- Wrote the team's incident runbooks and led 12 blameless post-mortems",
    ),
    "cover_letter": (
        "Dear Hiring Team,\n\n"
        "I am excited to apply for the Senior Backend Engineer role. Over the past six years I have built "
        "and operated Python services that handle millions of requests a day, most recently leading the "
        "migration of a billing platform to event-driven microservices.\n\n"
        "Your focus on reliability and ownership matches how I like to work: I instrumented our systems "
        "end to end with tracing and metrics, and halved our incident resolution time. I would bring the "
        "same care to your platform team, along with hands-on experience shipping LLM-backed features.\n\n"
        "Thank you for your consideration. I would welcome the chance to discuss how I can help.\n\n"
        "Kind regards,\nAlex Morgan",
        "Dear Hiring Manager,\n\n"
        "Your posting for a backend engineer who enjoys owning production systems caught my attention "
        "immediately. At my current company I lead a small team responsible for our payments API, where "
        "we reached 99.98% uptime while doubling traffic.\n\n"
        "I am particularly drawn to your work on data-heavy products. My experience with PostgreSQL "
        "performance tuning and cloud cost optimisation would let me contribute from the first weeks.\n\n"
        "I would love to talk about the role and your team's roadmap.\n\n"
        "Best regards,\nAlex Morgan",
    ),
    "interview": (
        "Likely interview questions for this role, with what a strong answer covers:\n\n"
        "1. *Walk me through a system you designed.* - constraints, trade-offs, what you would change\n"
        "2. *Tell me about a production incident you owned.* - detection, mitigation, follow-up actions\n"
        "3. *How do you make a slow query fast?* - EXPLAIN plans, indexes, data-model changes\n"
        "4. *How do you handle disagreement on a technical decision?* - evidence, written proposals\n"
        "5. *Why this company?* - connect their product to your experience",
    ),
    "generic": (
        "Happy to help with your application. I can analyse a job posting to extract the key skills, "
        "rewrite your resume bullets to match it, draft a tailored cover letter, or prepare you for the "
        "interview. Share the posting or your resume and tell me which step you would like to start with.",
        "Sure. To tailor your application well I need two things: the job posting (or a link to it) and "
        "your current resume. With those I will highlight the requirements you already meet, the gaps "
        "worth addressing, and suggest concrete edits.",
    ),
}

_THINKING: tuple[str, ...] = (
    "The user wants help with a job application. First I should identify what they are asking for "
    "precisely, then look at the material they provided: the posting's explicit requirements, the "
    "implicit seniority signals, and any experience they listed. I should prioritise the requirements "
    "that appear in both, quantify achievements where possible, and keep the tone professional but "
    "personal. Finally I will check the answer is concise and directly usable.",
    "Let me break this down. The request is about tailoring an application. The strongest answer "
    "mirrors the posting's vocabulary, leads with measurable impact, and avoids generic claims. I will "
    "structure the output so it can be pasted directly, and keep it short enough to scan quickly.",
)

_TOOL_PREFACES: tuple[str, ...] = (
    "I'll use the {tool} tool to get the details I need.",
    "Let me call {tool} first so the answer is based on current information.",
)

_AFTER_TOOL: tuple[str, ...] = (
    "Using the results from {tool}, here is what I found.\n\n",
    "Thanks, the {tool} results are in.\n\n",
)


def rng_for(seed: int, *parts: str) -> random.Random:
    """A random generator that depends only on ``seed`` and ``parts``."""
    digest = hashlib.sha256("\x1f".join((str(seed), *parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def text_of(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``text`` of its parts / blocks, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part["text"])
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def topic_of(*texts: str) -> str:
    """The first topic whose keywords appear in the first text that has any (else ``generic``)."""
    for text in texts:
        lowered = " " + text.lower()
        for topic, words in _KEYWORDS:
            if any(word in lowered for word in words):
                return topic
    return "generic"


def answer_text(topic: str, *, seed: int, key: str, after_tool: str | None = None) -> str:
    """Realistic assistant text for ``topic``; ``after_tool`` names a tool whose result came back."""
    rng = rng_for(seed, "answer", topic, key)
    text = rng.choice(_ANSWERS.get(topic, _ANSWERS["generic"]))
    if after_tool:
        text = rng.choice(_AFTER_TOOL).format(tool=after_tool) + text
    return text


def thinking_text(*, seed: int, key: str) -> str:
    return rng_for(seed, "thinking", key).choice(_THINKING)


def tool_preface(tool: str, *, seed: int, key: str) -> str:
    return rng_for(seed, "preface", key).choice(_TOOL_PREFACES).format(tool=tool)


def pick_tool(names: list[str], prompt: str) -> int:
    """Index of the tool to call: the first whose name is mentioned in ``prompt``, else 0."""
    lowered = prompt.lower()
    for i, name in enumerate(names):
        if name and (name.lower() in lowered or name.lower().replace("_", " ") in lowered):
            return i
    return 0


# --- JSON from a JSON schema --------------------------------------------------------------------

_STRING_HINTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("email",), ("alex.morgan@example.com",)),
    (("url", "link", "website", "href"), ("https://jobs.example.com/postings/4821",)),
    (("company", "employer", "organization", "organisation"), ("Northwind Analytics", "Contoso Robotics")),
    (("title", "role", "position", "job"), ("Senior Backend Engineer", "Staff Platform Engineer")),
    (("location", "city", "country", "where"), ("Berlin, Germany (hybrid)", "Remote (EU)")),
    (("date", "deadline", "start"), ("2025-11-03",)),
    (("salary", "compensation", "pay"), ("EUR 85,000 - 100,000",)),
    (("seniority", "level"), ("Senior",)),
    (
        ("skill", "keyword", "requirement", "technolog", "tool", "stack"),
        ("Python", "PostgreSQL", "AWS", "Kubernetes", "Terraform", "Kafka", "FastAPI", "Redis"),
    ),
    (
        ("bullet", "achievement", "highlight", "experience"),
        (
            "Led the migration of a billing monolith to six Python services, cutting deploy time by 90%",
            "Designed PostgreSQL partitioning for 1.2B-row tables, reducing p95 latency by 63%",
            "Built tracing and alerting adopted by 9 teams, halving mean time to resolution",
        ),
    ),
    (("gap", "missing", "weakness"), ("Kubernetes in production", "Formal people management")),
    (("query", "search", "term"), ("senior backend engineer python hybrid berlin",)),
    (("name",), ("Alex Morgan",)),
    (("letter", "body", "text", "content", "message"), (_ANSWERS["cover_letter"][0],)),
    (
        ("summary", "description", "reason", "rationale", "explanation", "feedback", "note", "comment"),
        (
            "Strong match on backend and data skills; highlight production ownership and mentoring.",
            "Good overall fit; the main gap is hands-on Kubernetes experience.",
        ),
    ),
    (("status", "decision", "recommendation"), ("apply",)),
)

_NUMBER_HINTS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("score", "match", "fit", "confidence", "probability", "similarity", "relevance"), 0.82),
    (("salary", "compensation", "pay"), 95000.0),
    (("year", "experience"), 6.0),
    (("rating",), 4.0),
)


def _hinted(hint: str, table: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]) -> tuple[str, ...] | None:
    lowered = hint.lower()
    for words, values in table:
        if any(word in lowered for word in words):
            return values
    return None


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < 20:
        ref: str = schema["$ref"]
        target: Any = root
        if ref.startswith("#"):
            for part in [p for p in ref[1:].split("/") if p]:
                target = target.get(part) if isinstance(target, Mapping) else None
        else:
            target = None
        if not isinstance(target, Mapping):
            return {}
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        schema = merged
        seen += 1
    return schema


def _string_value(schema: Mapping[str, Any], hint: str, index: int) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        return "2025-11-03"
    if fmt == "date-time":
        return "2025-11-03T09:30:00Z"
    if fmt == "email":
        return "alex.morgan@example.com"
    if fmt in ("uri", "url"):
        return "https://jobs.example.com/postings/4821"
    if fmt == "uuid":
        return "3f2b8c1e-9a4d-4c7e-8b21-5d6f0a1c2e93"
    values = _hinted(hint, _STRING_HINTS)
    text = values[index % len(values)] if values else f"Sample {hint.replace('_', ' ')}".strip()
    if not values and not hint:
        text = "Sample text"
    max_len = schema.get("maxLength")
    if isinstance(max_len, int) and len(text) > max_len:
        text = text[:max_len]
    min_len = schema.get("minLength")
    if isinstance(min_len, int) and len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    return text


def _number_value(schema: Mapping[str, Any], hint: str, integer: bool) -> float:
    lowered = hint.lower()
    value = 3.0
    for words_, number in _NUMBER_HINTS:
        if any(word in lowered for word in words_):
            value = number
            break
    if integer and 0 < value < 1:
        value *= 100  # a 0..1 score asked as an integer is a percentage
    step = 1.0 if integer else 0.01
    low, high = schema.get("minimum"), schema.get("maximum")
    ex_low, ex_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(ex_high, (int, float)) and value >= ex_high:
        value = float(ex_high) - step
    if isinstance(high, (int, float)) and value > high:
        value = float(high)
    if isinstance(ex_low, (int, float)) and value <= ex_low:
        value = float(ex_low) + step
    if isinstance(low, (int, float)) and value < low:
        value = float(low)
    return float(round(value)) if integer else value


def fill_schema(
    schema: Any, root: Mapping[str, Any] | None = None, hint: str = "", index: int = 0, depth: int = 0
) -> Any:
    """A plausible JSON value that validates against a (simple) JSON schema.

    Supports ``type`` (also as a list), ``properties``, ``items``, ``enum``, ``const``,
    ``anyOf``/``oneOf``/``allOf``, ``$ref`` into ``$defs``/``definitions``, ``minItems``/
    ``maxItems``, ``minimum``/``maximum``, ``minLength``/``maxLength`` and common ``format`` values.
    Strings and numbers are chosen from the property name (``company``, ``skills``, ``score`` ...).
    """
    root = root if root is not None else (schema if isinstance(schema, Mapping) else {})
    schema = _resolve(schema, root)
    if not isinstance(schema, Mapping):
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            chosen = next(
                (
                    o
                    for o in options
                    if not (isinstance(o, Mapping) and _resolve(o, root).get("type") == "null")
                ),
                options[0],
            )
            return fill_schema(chosen, root, hint, index, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for option in all_of:
            resolved = _resolve(option, root)
            if isinstance(resolved, Mapping):
                merged.update(resolved)
        merged.update({k: v for k, v in schema.items() if k != "allOf"})
        return fill_schema(merged, root, hint, index, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        if "properties" in schema:
            kind = "object"
        elif "items" in schema:
            kind = "array"
        else:
            kind = "string"
    if kind == "object":
        result: dict[str, Any] = {}
        if depth > 8:
            return result
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                result[str(name)] = fill_schema(sub, root, str(name), 0, depth + 1)
        return result
    if kind == "array":
        if depth > 8:
            return []
        count = 3
        min_items = schema.get("minItems")
        max_items = schema.get("maxItems")
        if isinstance(max_items, int):
            count = min(count, max_items)
        if isinstance(min_items, int):
            count = max(count, min_items)
        item_hint = hint[:-1] if hint.endswith("s") else hint
        items = schema.get("items", {})
        if isinstance(items, list):  # tuple form
            return [fill_schema(s, root, item_hint, i, depth + 1) for i, s in enumerate(items)]
        return [fill_schema(items, root, item_hint, i, depth + 1) for i in range(count)]
    if kind == "string":
        return _string_value(schema, hint, index)
    if kind == "integer":
        return int(_number_value(schema, hint, integer=True))
    if kind == "number":
        return float(_number_value(schema, hint, integer=False))
    if kind == "boolean":
        return True
    return None


_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (used by the embedding vectors)."""
    return [w.lower() for w in _WORD.findall(text)]
