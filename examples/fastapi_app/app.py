"""A FastAPI service with agentwatch: ``/metrics`` for Prometheus, request context on every span.

    pip install fastapi uvicorn
    python examples/fastapi_app/app.py --port 8000        # or: uvicorn app:app (from this folder)
    curl -s localhost:8000/ask -H 'x-user-id: u-1' -H 'content-type: application/json' \\
         -d '{"question": "Which skills should a data engineer list first?"}'
    curl -s localhost:8000/metrics | grep agentwatch_llm

Without OPENAI_API_KEY the app starts agentwatch's bundled fake provider on 127.0.0.1. A
middleware puts the caller's ``x-user-id`` and a request id into ``agentwatch.context()``, so
every span of the request carries ``user.id`` and ``agentwatch.request.id`` (span attributes,
never metric labels). Under several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` and
``/metrics`` serves the sum over every worker (see docs/deployment.md).
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import openai
import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

import agentwatch
import agentwatch_openai
from agentwatch.fake_provider.offline import unless_keys

MODEL = "gpt-4o-mini"


class Question(BaseModel):
    question: str


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    with unless_keys("openai"):  # no OPENAI_API_KEY: the bundled fake provider on 127.0.0.1
        app.state.client = agentwatch_openai.instrument(openai.AsyncOpenAI())
        yield
        agentwatch.shutdown()  # flushes the spans still queued


agentwatch.configure(service_name="fastapi-example")  # before the app mounts the metrics app
app = FastAPI(lifespan=lifespan)
app.mount("/metrics", agentwatch.prometheus_asgi_app())


@app.middleware("http")
async def request_context(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    with agentwatch.context(user_id=request.headers.get("x-user-id"), request_id=request_id):
        response = await call_next(request)
    response.headers["x-request-id"] = request_id
    return response


@app.post("/ask")
async def ask(body: Question, request: Request) -> dict[str, Any]:
    client: openai.AsyncOpenAI = request.app.state.client
    async with agentwatch.stage("answer", graph="fastapi-example"):
        reply = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": body.question}])
    usage = reply.usage
    return {"answer": reply.choices[0].message.content,
            "input_tokens": usage.prompt_tokens if usage else None,
            "output_tokens": usage.completion_tokens if usage else None}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the example app with uvicorn.")
    parser.add_argument("--port", type=int, default=8000)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
