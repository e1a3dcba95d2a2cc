"""Raw HTTP helpers: the wire format seen without any SDK."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from agentwatch.fake_provider import FakeProvider


@dataclass
class Raw:
    """A raw HTTP answer: status, lower-cased headers, body text."""

    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    def events(self) -> list[tuple[str | None, str]]:
        """The server-sent events of a stream: (event name, data)."""
        found: list[tuple[str | None, str]] = []
        for block in self.text.split("\n\n"):
            if not block.strip():
                continue
            name = None
            data = []
            for line in block.split("\n"):
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    data.append(line[len("data: ") :])
            found.append((name, "\n".join(data)))
        return found


def post(fp: FakeProvider, path: str, body: Any, headers: dict[str, str] | None = None) -> Raw:
    conn = http.client.HTTPConnection(fp.host, fp.port, timeout=10)
    try:
        sent = {"content-type": "application/json", "authorization": "Bearer test-key", **(headers or {})}
        conn.request("POST", path, body=json.dumps(body), headers=sent)
        response = conn.getresponse()
        text = response.read().decode()
        return Raw(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
    finally:
        conn.close()
