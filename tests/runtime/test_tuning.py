"""``transferbot serve`` tunes the garbage collector; cycles made afterwards are still freed."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_after_tuning_garbage_cycles_are_still_collected_without_being_asked() -> None:
    script = textwrap.dedent(
        """
        import gc, weakref
        import bot.cli  # what `transferbot serve` has imported when it tunes
        from bot.runtime.tuning import YOUNG_THRESHOLD, tune_gc

        tune_gc()
        tune_gc()  # twice is harmless
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD, gc.get_threshold()
        assert gc.get_freeze_count() > 10_000  # the modules and what start-up made
        freed = []

        class Node:
            pass

        for i in range(200_000):  # cycles only the collector can free
            a, b = Node(), Node()
            a.other, b.other = b, a
            weakref.finalize(a, freed.append, i)
        alive = 200_000 - len(freed)
        assert alive < 2 * YOUNG_THRESHOLD, alive
        print("ok", len(freed))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
