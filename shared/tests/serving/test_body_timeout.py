"""The body deadline alone, as raw ASGI: a client is a ``receive`` that sleeps."""

import asyncio
import json
import time

from medai.serving.body_timeout import BodyTimeoutMiddleware

IDLE = 0.1


def client(chunks, *, gaps=0.0, then_wait=None):
    """A ``receive`` giving ``chunks`` (``gaps`` seconds apart), then waiting ``then_wait``.

    ``then_wait=None`` waits for ever after the last chunk, as a client that stops does.
    """
    queue = list(chunks)

    async def receive():
        if queue:
            await asyncio.sleep(gaps)
            chunk = queue.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(queue)}
        if then_wait is None:
            await asyncio.sleep(3600)
        await asyncio.sleep(then_wait)
        return {"type": "http.disconnect"}

    return receive


def stalling_client(first):
    """Sends ``first`` as part of a longer body, then nothing."""

    async def receive():
        nonlocal first
        if first is not None:
            chunk, first = first, None
            return {"type": "http.request", "body": chunk, "more_body": True}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}  # pragma: no cover - cancelled first

    return receive


def run(app, receive):
    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    started = time.monotonic()
    asyncio.run(app(scope, receive, send))
    return sent, time.monotonic() - started


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


def statuses(sent):
    return [m["status"] for m in sent if m["type"] == "http.response.start"]


def error_of(sent):
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return json.loads(body)["error"]


def middleware(app=reading_app, *, min_bytes_per_s=1_000_000):
    return BodyTimeoutMiddleware(app, idle_timeout_s=IDLE, min_bytes_per_s=min_bytes_per_s)


def test_a_body_that_stops_is_answered_408_after_the_idle_timeout():
    sent, seconds = run(middleware(), stalling_client(b"x" * 10))
    assert statuses(sent) == [408]
    error = error_of(sent)
    assert error["code"] == "request_timeout"
    assert error["message"] == "the request body timed out: nothing arrived for 0.1 s"
    assert IDLE <= seconds < IDLE + 0.5
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert (b"connection", b"close") in start["headers"]


def test_a_trickle_that_is_never_idle_is_cut_off_by_the_rate():
    # A byte every 0.04 s never waits IDLE, but earns only 1 ms at 1000 bytes/s.
    sent, seconds = run(middleware(min_bytes_per_s=1000), client([b"x"] * 100, gaps=0.04))
    assert statuses(sent) == [408]
    assert error_of(sent)["message"] == (
        "the request body timed out: it arrived slower than 1000 bytes/s"
    )
    assert seconds < 4 * IDLE


def test_a_body_arriving_at_the_rate_is_read_whole():
    # 100 bytes every 0.05 s is 2000 bytes/s, above the 1000 asked: each wait is under IDLE.
    sent, _ = run(middleware(min_bytes_per_s=1000), client([b"x" * 100] * 6, gaps=0.05))
    assert statuses(sent) == [200]
    assert sent[-1]["body"] == b"600"


def test_time_the_app_spends_between_reads_is_not_the_clients():
    async def slow_app(_scope, receive, send):
        size = 0
        while True:
            await asyncio.sleep(IDLE * 1.5)  # works longer than the idle timeout each time
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    sent, _ = run(middleware(slow_app, min_bytes_per_s=1), client([b"x"] * 4))
    assert statuses(sent) == [200]


def test_waiting_for_a_disconnect_after_the_body_is_not_timed():
    async def watching_app(_scope, receive, send):
        assert not (await receive())["more_body"]
        assert (await receive())["type"] == "http.disconnect"  # after 3 x IDLE
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent, _ = run(middleware(watching_app), client([b"x"], then_wait=3 * IDLE))
    assert statuses(sent) == [200]


def test_the_apps_own_answer_to_the_interrupted_read_is_dropped():
    async def forgiving_app(_scope, receive, send):
        try:
            while (await receive()).get("more_body"):
                pass
        except Exception:  # noqa: BLE001 - as FastAPI's form parser does
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"bad"})

    sent, _ = run(middleware(forgiving_app), stalling_client(b"x"))
    assert statuses(sent) == [408]


def test_a_request_without_a_body_passes_at_once():
    sent, seconds = run(middleware(), client([b""]))
    assert statuses(sent) == [200]
    assert seconds < IDLE
