"""Drives Chorus's HTTP front door with the official OpenAI SDK; prints one JSON object of results.

Usage: openai_client.py BASE_URL API_KEY
"""
import json
import sys

import openai

base, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=60)
out = {}

completion = client.chat.completions.create(
    model="chorus/sims",
    messages=[{"role": "user", "content": "What is the capital of France?"}],
)
out["completion"] = {
    "content": completion.choices[0].message.content,
    "finish_reason": completion.choices[0].finish_reason,
    "total_tokens": completion.usage.total_tokens,
    "chorus_status": completion.model_extra["chorus"]["status"],
    "chorus_candidates": [c["model"] for c in completion.model_extra["chorus"]["candidates"]],
    "id": completion.model_extra["chorus"]["id"],
}

pieces = []
for chunk in client.chat.completions.create(
    model="chorus/sims",
    messages=[{"role": "user", "content": "What is the capital of France?"}],
    stream=True,
):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
out["stream"] = "".join(pieces)

out["models"] = [m.id for m in client.models.list()]

try:
    openai.OpenAI(base_url=base, api_key="chorus_wrongkey_nope", max_retries=0).models.list()
    out["bad_key"] = "accepted"
except openai.AuthenticationError as error:
    out["bad_key"] = "AuthenticationError %d" % error.status_code

print(json.dumps(out))
