"""A deterministic embedder and a table of job postings for the vector-search tests.

The embedder is a feature-hashing bag of words: each word and word pair adds a weight in
+-[0.5, 1.5) to a dimension, both picked by its SHA-256, then the vector is L2-normalised. Texts
sharing words are close under cosine, and the same text always gets the same vector, on every
machine. Uneven weights and a unique reference in every posting keep scores free of ties.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re

DIMENSIONS = 48

_WORD = re.compile(r"[a-z0-9+#]+")


def embed(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    words = _WORD.findall(text.lower())
    features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    vector = [0.0] * dimensions
    for feature in features:
        digest = hashlib.sha256(feature.encode()).digest()
        index = int.from_bytes(digest[:4], "big") % dimensions
        weight = 0.5 + digest[5] / 256
        vector[index] += weight if digest[4] & 1 else -weight
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def literal(vector: list[float]) -> str:
    """pgvector's text form of a vector (what ``%s::vector`` takes)."""
    return "[" + ",".join(f"{v:.7f}" for v in vector) + "]"


_LEVELS = ["Junior", "Senior", "Staff", "Lead", "Principal"]
_ROLES = ["Python Backend Engineer", "Data Engineer", "Machine Learning Engineer", "Frontend Developer",
          "Site Reliability Engineer", "Product Designer", "Data Scientist", "Platform Engineer",
          "Mobile Developer", "Security Engineer"]
_SKILLS = ["python django postgres", "spark airflow kafka", "pytorch llm retrieval", "react typescript css",
           "kubernetes terraform prometheus", "figma user research", "statistics sql experimentation",
           "golang grpc kubernetes", "swift kotlin ios android", "threat modeling pentest iam"]
_CITIES = ["Berlin", "Lisbon", "Remote", "London", "Warsaw", "Madrid"]


def postings(count: int = 240) -> list[tuple[int, str, str]]:
    """``(id, title, text)`` rows, deterministic."""
    rows = []
    for i in range(count):
        role = i % len(_ROLES)
        title = f"{_LEVELS[(i // len(_ROLES)) % len(_LEVELS)]} {_ROLES[role]}"
        city = _CITIES[(i * 7) % len(_CITIES)]
        text = f"{title} in {city}. Skills: {_SKILLS[role]}. Team {i % 13}, ref R{i * 7919 % 10007}."
        rows.append((i + 1, title, text))
    return rows
