from __future__ import annotations

import json
import os
import urllib.request

import pytest

from agentwatch.fake_provider.offline import unless_keys


def test_unset_keys_point_at_the_fake_provider_and_are_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.invalid/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-real")
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with unless_keys("openai", "anthropic") as fake:
        assert fake is not None
        assert os.environ["OPENAI_BASE_URL"] == fake.openai_base_url
        assert os.environ["ANTHROPIC_API_KEY"] == "sk-ant-real"  # a key that is set is left alone
        assert "ANTHROPIC_BASE_URL" not in os.environ
        request = urllib.request.Request(
            os.environ["OPENAI_BASE_URL"] + "/chat/completions",
            data=json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["usage"]["prompt_tokens"] > 0
    assert os.environ["OPENAI_BASE_URL"] == "https://api.example.invalid/v1"
    assert "OPENAI_API_KEY" not in os.environ
    assert fake.requests_to("chat")[0].model == "gpt-4o-mini"


def test_nothing_starts_when_every_key_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
    with unless_keys("openai") as fake:
        assert fake is None


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown providers"), unless_keys("mistral"):
        pass
