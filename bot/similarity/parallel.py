"""Normalising a large corpus on two cores for :meth:`SimilarityIndex.rebuild`.

Normalisation is the only per-document Python work of a rebuild (everything after it
is numpy), so a large rebuild hands every other batch of rows to one helper process.
The helper is a fresh ``python -m bot.similarity._helper`` talking pickles over its
stdin/stdout: not a fork (the bot has threads, and forking a threaded process can
deadlock) and not ``multiprocessing``'s spawn (which re-imports the parent's main
module, i.e. would start the bot again in the helper). Results come back in input
order, so the index is the same as a single-process build; if the helper cannot be
started or fails, this process normalises everything itself.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any

from bot.similarity.normalize import Normalizer

# Below this many rows the helper's start-up (about half a second) is not worth it.
PARALLEL_MIN_ROWS = 20_000
_BATCH_ROWS = 4_000

Terms = tuple[list[str], list[str]]


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
    """Helper side: set up a Normalizer, then turn row batches into terms until EOF."""
    paths, stems = _receive(inp)
    normalizer = Normalizer(
        synonyms_path=paths[0], stopwords_path=paths[1], boilerplate_path=paths[2]
    )
    normalizer.merge_stems(stems)
    seen = len(normalizer.stem_cache_snapshot())
    while True:
        try:
            rows = _receive(inp)
        except EOFError:
            return
        terms = [normalizer.field_terms(name, desc) for name, desc in rows]
        # New stems go back so the parent's persisted stem cache stays complete.
        learnt = normalizer.stems_since(seen)
        seen += len(learnt)
        _send(out, (terms, learnt))


class _Helper:
    """The parent's handle on one helper process."""

    def __init__(self, normalizer: Normalizer) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.similarity._helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parents[2]),
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.inp: IO[bytes] = self.proc.stdin
        self.out: IO[bytes] = self.proc.stdout
        self._writer: threading.Thread | None = None
        self.failed = False
        paths = (normalizer.synonyms_path, normalizer.stopwords_path, normalizer.boilerplate_path)
        self.submit((paths, normalizer.stem_cache_snapshot()))

    def submit(self, obj: Any) -> None:
        """Send in the background: the helper reads only once it has started, and this
        process should be normalising its own batch meanwhile, not blocked on a pipe."""
        self._join()

        def write() -> None:
            try:
                _send(self.inp, obj)
            except OSError:
                self.failed = True

        self._writer = threading.Thread(target=write, daemon=True)
        self._writer.start()

    def _join(self) -> None:
        if self._writer is not None:
            self._writer.join()
            self._writer = None

    def result(self) -> Any:
        """The helper's answer to the last batch."""
        self._join()
        if self.failed:
            raise EOFError("similarity helper stopped reading")
        return _receive(self.out)

    def close(self) -> None:
        self._join()
        with contextlib.suppress(OSError):
            self.inp.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def normalised(
    normalizer: Normalizer, docs: Iterable[tuple[str, str, str]], parallel: bool = True
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``(doc_id, name terms, description terms)`` for every row, in input order."""
    rows = iter(docs)
    field_terms = normalizer.field_terms
    head = list(islice(rows, PARALLEL_MIN_ROWS))
    stream = chain(head, rows)
    helper: _Helper | None = None
    if parallel and len(head) >= PARALLEL_MIN_ROWS and (os.cpu_count() or 1) > 1:
        try:
            helper = _Helper(normalizer)
        except OSError:
            helper = None
    try:
        # Consecutive batches alternate between this process and the helper. The first
        # batch here is larger: the helper needs about half a second to start.
        size = 4 * _BATCH_ROWS
        while helper is not None:
            mine = list(islice(stream, size))
            if not mine:
                return
            size = _BATCH_ROWS
            theirs = list(islice(stream, _BATCH_ROWS))
            if theirs:
                helper.submit([(n, d) for _, n, d in theirs])
            for doc_id, name, desc in mine:
                yield (doc_id, *field_terms(name, desc))
            if not theirs:
                continue
            try:
                terms, learnt = helper.result()
            except (OSError, EOFError, pickle.UnpicklingError):
                # The helper died: do its batch here and carry on alone.
                terms, learnt = [field_terms(n, d) for _, n, d in theirs], {}
                helper.close()
                helper = None
            normalizer.merge_stems(learnt)
            for (doc_id, _, _), (name_t, desc_t) in zip(theirs, terms, strict=True):
                yield doc_id, name_t, desc_t
        for doc_id, name, desc in stream:
            yield (doc_id, *field_terms(name, desc))
    finally:
        if helper is not None:
            helper.close()
