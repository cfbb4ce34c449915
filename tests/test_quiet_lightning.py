"""quiet_lightning(): quiet inside, restored after, also when several threads overlap."""

from __future__ import annotations

import logging
import threading
import warnings

from crossscale_ext._lightning import quiet_lightning


def test_quiet_inside_and_restored_after_overlapping_threads():
    logger = logging.getLogger("pytorch_lightning")
    logger.setLevel(logging.INFO)
    before = list(warnings.filters)
    inside, release = threading.Barrier(3), threading.Event()
    seen: list[tuple[int, bool]] = []
    record_lock = threading.Lock()  # catch_warnings(record=True), used to look, is itself not thread-safe

    def worker() -> None:
        with quiet_lightning():
            inside.wait(timeout=10)
            release.wait(timeout=10)
            with record_lock, warnings.catch_warnings(record=True) as caught:
                warnings.warn_explicit("pin_memory is useless here", UserWarning, "x.py", 1, module="x")
                seen.append((logger.level, not caught))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait(timeout=10)                      # both threads are inside: settings are quiet
    assert logger.level == logging.WARNING
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert seen == [(logging.WARNING, True)] * 2  # the harmless warning was filtered in both threads
    assert logger.level == logging.INFO and warnings.filters == before  # the last one out restored both
    with quiet_lightning(), quiet_lightning():   # nested in one thread
        assert logger.level == logging.WARNING
    assert logger.level == logging.INFO and warnings.filters == before
