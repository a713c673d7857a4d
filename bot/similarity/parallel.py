"""Reading a corpus for :meth:`SimilarityIndex.rebuild`, stemming on two cores.

PySastrawi is the slow step of a first rebuild: a fraction of a millisecond per
distinct word, and a directory has tens of thousands. So a rebuild first reads every row
(:class:`bot.similarity.bulk.CorpusEncoder`), which lists each token missing from the stem
cache exactly once; the tokens are stemmed before any text is encoded, and encoding
then runs with the complete stem table. Once enough tokens are queued, a helper process
takes chunks from the same queue as this process: every token is stemmed once, by one
of the two, and every stem ends up in this process's cache (and so in the persisted
one). The helper starts stemming while this process is still reading rows.

The helper is a fresh ``python -m bot.similarity._helper`` talking pickles over its
stdin/stdout: not a fork (the bot has threads, and forking a threaded process can
deadlock) and not ``multiprocessing``'s spawn (which re-imports the parent's main
module, i.e. would start the bot again in the helper). A background thread keeps it
supplied; if it cannot be started or dies, what it had not answered is stemmed here.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import IO, Any

from bot.similarity.bulk import CorpusEncoder
from bot.similarity.normalize import Normalizer, compute_stem, new_stemmer

# Below this many tokens to stem (a few tenths of a second of PySastrawi) this process
# would be done before the helper has started (about 0.1 s): a restart with the stem
# cache never starts it, a first start does after its first batch of rows.
PARALLEL_MIN_TOKENS = 5_000
_BATCH_ROWS = 2_000
# Tokens per request: large while the queue is long, so that pickling and waking the
# pump thread cost little against the stemming; small near its end, so that this
# process, done with its share, waits little for the helper's last answers.
_CHUNK = 1_024
_MIN_CHUNK = 32
# Requests the helper holds: it always has the next one when it finishes a chunk, and
# two chunks' pickles stay far below a pipe's buffer, so neither side blocks on a write.
_IN_FLIGHT = 2
# A helper that has not answered two chunks after this long is stuck: it is killed and
# its tokens are stemmed here, so a start-up never hangs on it.
_STALL_SECONDS = 10.0
_HELPER_COMMAND = [sys.executable, "-m", "bot.similarity._helper"]


def _send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(8, "little"))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("similarity helper closed its pipe")
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("similarity helper closed its pipe")
    return pickle.loads(data)


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Helper side: answer each list of tokens with their stems until EOF."""
    stemmer = new_stemmer()
    while True:
        try:
            tokens = _receive(inp)
        except EOFError:
            return
        _send(out, [compute_stem(stemmer, token) for token in tokens])


class _Helper:
    """The parent's handle on one helper process, fed from a shared queue of tokens."""

    def __init__(self, pending: deque[str]) -> None:
        self.proc = subprocess.Popen(
            _HELPER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.inp: IO[bytes] = self.proc.stdin
        self.out: IO[bytes] = self.proc.stdout
        self.stems: dict[str, str] = {}  # written by the pump thread until it ends
        self._pending = pending
        self._closed = False  # no more tokens will be queued
        self._wake = threading.Event()
        self._pump = threading.Thread(target=self._run, name="sasi-stem-pump", daemon=True)
        self._pump.start()

    def _take(self) -> list[str]:
        size = min(_CHUNK, max(_MIN_CHUNK, len(self._pending) // 8))
        chunk: list[str] = []
        with contextlib.suppress(IndexError):  # deque.popleft is atomic: no token is shared
            while len(chunk) < size:
                chunk.append(self._pending.popleft())
        return chunk

    def _run(self) -> None:
        in_flight: deque[list[str]] = deque()
        try:
            while True:
                while len(in_flight) < _IN_FLIGHT and (chunk := self._take()):
                    _send(self.inp, chunk)
                    in_flight.append(chunk)
                if in_flight:
                    done = in_flight.popleft()
                    self.stems.update(zip(done, _receive(self.out), strict=True))
                elif self._closed:
                    return
                else:
                    self._wake.wait(0.05)
                    self._wake.clear()
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):
            # The helper died or answered nonsense: tokens it held were taken off the
            # queue, so the parent stems them when it needs them.
            return

    def wake(self) -> None:
        self._wake.set()

    def drain(self) -> dict[str, str]:
        """Stems of every token the helper answered for; call once nothing more will be
        queued (waits for the requests in flight)."""
        self._closed = True
        self._wake.set()
        self._pump.join(_STALL_SECONDS)
        if self._pump.is_alive():
            self.proc.kill()  # its pipe closes, so the pump stops
            self._pump.join()
        return self.stems

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        with contextlib.suppress(OSError, ValueError):
            self.inp.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._pump.join()
        self.out.close()


class StemPool:
    """Tokens waiting for PySastrawi; stemmed into the normaliser's cache by this process
    and, once enough are queued, by a helper process too."""

    def __init__(self, normalizer: Normalizer, parallel: bool = True) -> None:
        self._norm = normalizer
        self._pending: deque[str] = deque()
        self._may_start = parallel and (os.cpu_count() or 1) > 1
        self._helper: _Helper | None = None

    def add(self, tokens: Iterable[str]) -> None:
        """Queue tokens (each at most once over the whole rebuild)."""
        self._pending.extend(tokens)
        if self._helper is not None:
            self._helper.wake()
        elif self._may_start and len(self._pending) >= PARALLEL_MIN_TOKENS:
            self._may_start = False  # one attempt per rebuild
            with contextlib.suppress(OSError):
                self._helper = _Helper(self._pending)

    def finish(self) -> None:
        """Stem everything queued, sharing the queue with the helper if it runs."""
        stem = self._norm.stem
        pending = self._pending
        with contextlib.suppress(IndexError):
            while True:
                stem(pending.popleft())
        if self._helper is not None:
            self._norm.merge_stems(self._helper.drain())

    def close(self) -> None:
        if self._helper is not None:
            self._helper.close()
            self._helper = None


def read_and_stem(
    normalizer: Normalizer, docs: Iterable[tuple[str, str, str]], parallel: bool = True
) -> tuple[list[str], CorpusEncoder]:
    """Read ``(doc_id, name, description)`` rows and stem every new token; returns the
    doc ids in input order and the encoder holding the rows, ready to encode."""
    encoder = CorpusEncoder(normalizer)
    pool = StemPool(normalizer, parallel)
    doc_ids: list[str] = []
    rows = iter(docs)
    try:
        while batch := list(islice(rows, _BATCH_ROWS)):
            doc_ids.extend(row[0] for row in batch)
            pool.add(encoder.add([(name, desc) for _, name, desc in batch]))
        pool.finish()
    finally:
        pool.close()
    return doc_ids, encoder
