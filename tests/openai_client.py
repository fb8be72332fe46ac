"""The official `openai` client against `r2l serve`: one completion and one stream.

Usage: python openai_client.py BASE_URL API_KEY   (exit status 0 on success)
"""
import sys

from openai import OpenAI


def main(base_url, api_key):
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)
    models = client.models.list()
    model = models.data[0].id
    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello in Swedish."}],
        max_tokens=16,
        temperature=0,
    )
    text = completion.choices[0].message.content
    assert text and text.strip(), f"empty completion: {completion}"
    assert completion.usage.completion_tokens > 0, completion.usage
    pieces = []
    finish = None
    for chunk in client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Count from one to five."}],
        max_tokens=16,
        stream=True,
    ):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    streamed = "".join(pieces)
    assert streamed.strip(), "empty stream"
    assert finish in ("stop", "length"), finish
    print(f"completion: {text!r}\nstream: {streamed!r} ({finish})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
