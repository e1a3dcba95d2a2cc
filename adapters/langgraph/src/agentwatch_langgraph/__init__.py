"""agentwatch for LangGraph and LangChain.

    from agentwatch_langgraph import CallbackHandler
    graph.invoke(inputs, config={"callbacks": [CallbackHandler()]})

or, for every graph in the process, ``LangGraphInstrumentor().instrument()``.
"""

from agentwatch_langgraph._handler import CallbackHandler, RunAbandoned
from agentwatch_langgraph._instrumentor import LangGraphInstrumentor

__version__ = "0.1.0"

__all__ = ["CallbackHandler", "LangGraphInstrumentor", "RunAbandoned", "__version__"]
