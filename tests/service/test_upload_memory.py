"""Corpus uploads in bounded memory: the body streams to disk and is read back in chunks, so the
server's peak memory grows by a small multiple of the body (never a list of its words), and only
RNNLAB_MAX_CONCURRENT_UPLOADS uploads are read at once."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.upload_memory import kib_field, reset_peak, write_corpus
from rnnlab.models.text import build_dictionary, preprocess
from rnnlab.service.store.corpora import CHUNK_BYTES
from tests.conftest import LiveService

MB = 1024 * 1024


def upload(service: LiveService, body: bytes) -> httpx.Response:
    return service.client.post(
        "/corpora", content=body, headers={"content-type": "text/plain"}, timeout=120
    )


def test_an_upload_costs_at_most_three_times_its_body(
    service_factory: Callable[..., LiveService], tmp_path: Path
) -> None:
    service = service_factory()
    corpus = tmp_path / "corpus.txt"
    write_corpus(corpus, 16 * MB)
    body = corpus.read_bytes()
    warm_up = upload(service, b"the first upload of a service imports what uploads need " * 100)
    assert warm_up.status_code == 201, warm_up.text
    pid = service.process.pid
    idle = kib_field(pid, "VmRSS")
    reset_peak(pid)

    reply = upload(service, body)

    assert reply.status_code == 201, reply.text
    peak = kib_field(pid, "VmHWM")
    assert (peak - idle) <= 3 * len(body), (
        f"peak {peak / MB:.0f} MB over an idle {idle / MB:.0f} MB, body {len(body) / MB:.0f} MB"
    )


def filler(size: int) -> bytes:
    """`size` bytes of words, the last one closed by a space."""
    return (b"the cat sat on the mat " * (size // 23 + 1))[: size - 1] + b" "


def test_words_and_characters_cut_between_chunks_count_once(service: LiveService) -> None:
    # "zebra" straddles the first chunk's end, the two bytes of an "é" the second's.
    body = filler(CHUNK_BYTES - 3) + b"zebra " + filler(CHUNK_BYTES - 7) + b"caf\xc3\xa9 "
    body += b"zebra " * 4 + filler(10_000)
    assert body[CHUNK_BYTES - 3 : CHUNK_BYTES + 2] == b"zebra"
    assert body[2 * CHUNK_BYTES - 1 : 2 * CHUNK_BYTES + 1] == "é".encode()
    text = body.decode()

    reply = upload(service, body)

    assert reply.status_code == 201, reply.text
    corpus = reply.json()
    words = preprocess(text)
    assert corpus["tokens"] == len(words)
    assert corpus["characters"] == len(text)
    assert corpus["sha256"] == hashlib.sha256(body).hexdigest()
    dictionary = service.client.get(f"/corpora/{corpus['id']}/dictionary").json()["words"]
    expected = build_dictionary(words)
    assert {word: entry["count"] for word, entry in dictionary.items()} == dict(
        zip(expected.words, expected.counts, strict=True)
    )
    assert dictionary["zebra"]["count"] == 5


def test_a_character_cut_between_chunks_that_is_not_utf8_names_its_byte(
    service: LiveService,
) -> None:
    body = b"a" * (CHUNK_BYTES - 1) + b"\xc3\x28 more"  # a lead byte, then no continuation
    reply = upload(service, body)
    assert reply.status_code == 422
    assert f"byte {CHUNK_BYTES - 1}" in reply.json()["detail"]


def start_upload(service: LiveService, body_bytes: int) -> socket.socket:
    """An upload whose headers and first bytes are sent, the rest still owed."""
    host, port = service.base_url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    connection.sendall(
        b"POST /corpora HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {body_bytes}\r\n\r\n".encode()
        + b"the cat "
    )
    return connection


def wait_for_status(service: LiveService, status: int, timeout: float = 10) -> httpx.Response:
    """Upload an empty text (422 when a slot is free) until the answer is `status`."""
    deadline = time.monotonic() + timeout
    while True:
        reply = upload(service, b"")
        if reply.status_code == status or time.monotonic() > deadline:
            return reply
        time.sleep(0.05)


def hold_the_only_slot(
    service: LiveService, body_bytes: int
) -> tuple[socket.socket, httpx.Response]:
    """An unfinished upload holding the service's one upload slot, and the 429 another got.

    Only a probe's 429 proves the unfinished upload got there first: when a probe wins the race
    instead, the unfinished upload is the one refused, and it is started again.
    """
    for _ in range(10):
        connection = start_upload(service, body_bytes)
        refused = wait_for_status(service, 429, timeout=3)
        if refused.status_code == 429:
            return connection, refused
        connection.close()
    raise AssertionError("no upload ever held the only slot")


def test_uploads_beyond_the_cap_wait_their_turn(
    service_factory: Callable[..., LiveService],
) -> None:
    service = service_factory(max_concurrent_uploads="1")
    body = b"the cat sat on the mat " * 200
    first, refused = hold_the_only_slot(service, len(body))
    try:
        assert refused.headers["retry-after"] == "5"
        assert "RNNLAB_MAX_CONCURRENT_UPLOADS=1" in refused.json()["detail"]

        first.sendall(body[len(b"the cat ") :])
        first.settimeout(30)
        assert first.recv(4096).startswith(b"HTTP/1.1 201")
    finally:
        first.close()
    assert upload(service, body).status_code == 201


def test_an_upload_cut_off_gives_its_turn_back(
    service_factory: Callable[..., LiveService],
) -> None:
    service = service_factory(max_concurrent_uploads="1")
    first, _ = hold_the_only_slot(service, 10 * MB)
    first.close()  # the client goes away with most of its body unsent
    assert wait_for_status(service, 422).status_code == 422
