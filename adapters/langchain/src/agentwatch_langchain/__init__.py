"""agentwatch for LangChain vector stores and embeddings, which fire no callbacks of their own.

    from agentwatch_langchain import instrument_embeddings, instrument_vectorstore

    embeddings = instrument_embeddings(OpenAIEmbeddings(model="text-embedding-3-small"))
    store = instrument_vectorstore(InMemoryVectorStore(embeddings))

Every search is a ``retrieval`` span (and the ``agentwatch_vector_search_*`` metrics), every
embedding call an ``embeddings`` span with estimated tokens and cost (``agentwatch_llm_*`` with
``operation="embeddings"``). Both functions return the object they were given, instrumented in
place, and never raise.
"""

from agentwatch_langchain._embeddings import instrument_embeddings
from agentwatch_langchain._vectorstore import instrument_vectorstore, uninstrument

__all__ = ["instrument_embeddings", "instrument_vectorstore", "uninstrument"]
