"""The pgvector example runs against the same throwaway PostgreSQL + pgvector as tests/vector."""

from tests.vector.conftest import postgres

__all__ = ["postgres"]
