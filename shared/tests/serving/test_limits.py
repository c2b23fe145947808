import json

import pytest

from medai.serving import BodyLimitMiddleware

LIMIT_MB = 0.001  # 1048 bytes
LIMIT = 1048


@pytest.fixture
def limited(make_client):
    return make_client(max_body_mb=LIMIT_MB)


def test_a_body_under_the_limit_passes(limited):
    assert limited.post("/v1/predict", content=b"x" * LIMIT).json() == {
        "bytes": LIMIT,
        "model": "dummy",
    }


def test_a_declared_content_length_over_the_limit_is_refused(limited, expect_error):
    error = expect_error(
        limited.post("/v1/predict", content=b"x" * (LIMIT + 1)), 413, "payload_too_large"
    )
    assert error["message"] == "the request body is larger than the limit of 1048 bytes"


def test_a_refused_body_closes_the_connection_instead_of_draining_it(limited):
    response = limited.post("/v1/predict", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.headers["connection"] == "close"


def test_the_message_gives_the_limit_in_megabytes(make_client, expect_error):
    client = make_client(max_body_mb=1.5)
    response = client.post("/v1/predict", content=b"x" * (1_572_864 + 1))
    error = expect_error(response, 413, "payload_too_large")
    assert error["message"] == "the request body is larger than the limit of 1.5 MB"


def test_a_streamed_body_without_content_length_is_cut_off(limited, expect_error):
    def chunks():
        for _ in range(4):
            yield b"x" * 500

    response = limited.post("/v1/predict", content=chunks())
    assert "content-length" not in response.request.headers
    expect_error(response, 413, "payload_too_large")


def test_a_streamed_body_under_the_limit_passes(limited):
    response = limited.post("/v1/predict", content=iter([b"x" * 500, b"y" * 500]))
    assert response.json() == {"bytes": 1000, "model": "dummy"}


def test_an_upload_over_the_limit_is_refused(limited, expect_error):
    files = {"file": ("scan.nii.gz", b"x" * 5000, "application/gzip")}
    expect_error(limited.post("/v1/upload", files=files), 413, "payload_too_large")


def test_the_server_still_answers_after_a_refused_body(limited):
    limited.post("/v1/predict", content=iter([b"x" * 5000]))
    assert limited.get("/health").json() == {"status": "ok"}
    assert limited.post("/v1/predict", content=b"ok").json() == {"bytes": 2, "model": "dummy"}


# Raw ASGI: the middleware alone, with a body in several chunks and no Content-Length.


def run_asgi(app, chunks, headers=()):
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent = []
    reads = []

    async def receive():
        reads.append(1)
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": list(headers)}

    import asyncio  # noqa: PLC0415

    asyncio.run(app(scope, receive, send))
    return sent, len(reads)


async def reading_app(_scope, receive, send):
    """Reads the whole body, then answers 200 with its size."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def forgiving_app(_scope, receive, send):
    """Catches the read error and answers 400, as FastAPI does: that answer must not leak."""
    try:
        while (await receive()).get("more_body"):
            pass
    except Exception:  # noqa: BLE001
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"bad"})


def statuses(sent):
    return [m["status"] for m in sent if m["type"] == "http.response.start"]


def test_raw_chunks_over_the_limit_get_one_413_and_stop_being_read():
    sent, reads = run_asgi(BodyLimitMiddleware(reading_app, max_bytes=10), [b"x" * 6] * 5)
    assert statuses(sent) == [413]
    assert reads == 2
    body = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    assert body["error"]["code"] == "payload_too_large"


def test_the_apps_own_answer_to_the_interrupted_read_is_dropped():
    sent, _ = run_asgi(BodyLimitMiddleware(forgiving_app, max_bytes=10), [b"x" * 6] * 5)
    assert statuses(sent) == [413]


def test_a_declared_length_over_the_limit_is_refused_without_reading():
    headers = [(b"content-length", b"30")]
    sent, reads = run_asgi(BodyLimitMiddleware(reading_app, max_bytes=10), [b"x" * 30], headers)
    assert statuses(sent) == [413]
    assert reads == 0


def test_raw_chunks_at_the_limit_pass():
    sent, _ = run_asgi(BodyLimitMiddleware(reading_app, max_bytes=12), [b"x" * 6] * 2)
    assert statuses(sent) == [200]
