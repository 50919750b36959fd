"""Many processes and threads registering, retrieving and releasing at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memshare.store import gc, register_variables, retrieve_metadata, retrieve_views

WORKERS = 4
SHARED = [f"s{i}" for i in range(5)]

# Each worker runs two threads for about two seconds. Every view is checked
# against the value its object was filled with, so torn or mixed data would
# fail. Then the worker reports the references it still holds and waits.
WORKER = r"""
import json, os, random, sys, threading, time
import numpy as np
import memshare
from memshare.store import registry

index = int(sys.argv[1])
shared = sys.argv[2].split(",")
tally = {}
tally_lock = threading.Lock()
errors = []

def check(view, name):
    # Every element of shared object s<i> is i. All elements of "mixed" are
    # equal, whichever registration the view belongs to.
    if name == "mixed":
        assert (view == view[0]).all(), "mixed data in one view"
    else:
        assert (view == int(name[1:])).all(), f"wrong data in {name}"

def work(seed):
    rng = random.Random(seed)
    mine = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        op = rng.random()
        name = rng.choice(shared + ["mixed"])
        try:
            if op < 0.45:
                view = memshare.retrieve_views("ns", name)[name]
                check(view, name)
                with tally_lock:
                    tally[name] = tally.get(name, 0) + 1
            elif op < 0.8:
                with tally_lock:
                    held = [n for n, c in tally.items() if c > 0]
                    if not held:
                        continue
                    name = rng.choice(held)
                    tally[name] -= 1
                memshare.release_views("ns", name)
            elif op < 0.9:
                value = rng.randrange(1000)
                memshare.register_variables(
                    "ns", {"mixed": np.full(50_000, value)}, overwrite=True
                )
            else:
                own = f"w{index}_{seed}_{len(mine)}"
                memshare.register_variables("ns", {own: np.zeros(1000)})
                mine.append(own)
                if rng.random() < 0.5:
                    memshare.release_variables("ns", own)
        except memshare.ObjectNotFoundError:
            # "mixed" is briefly absent before its first registration.
            assert name == "mixed", name
        except Exception as error:
            errors.append(repr(error))

threads = [threading.Thread(target=work, args=(index * 100 + t,)) for t in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()

held = {key[2]: counts for key, counts in registry.held.items()}
print(json.dumps({"pid": os.getpid(), "tally": tally, "held": held, "errors": errors}),
      flush=True)
sys.stdin.readline()
"""


@pytest.mark.slow
def test_counts_exact(store_root: Path) -> None:
    register_variables("ns", {name: np.full(10_000, int(name[1:])) for name in SHARED})
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(i), ",".join(SHARED)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WORKERS)
    ]
    reports = []
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else ""
        reports.append(json.loads(line))

    try:
        metadata = retrieve_metadata("ns")
        for report in reports:
            assert report["errors"] == []
            for name, count in report["tally"].items():
                # This worker's own bookkeeping agrees with the store's.
                assert sum(report["held"].get(name, {}).values()) == count, name
            for name, meta in metadata.items():
                recorded = {h.pid: h.count for h in meta.holders}
                expected = report["held"].get(name, {}).get(meta.object_id, 0)
                assert recorded.get(report["pid"], 0) == expected, (name, report["pid"])
    finally:
        for child in children:
            child.communicate("\n", timeout=60)

    for child in children:
        assert child.returncode == 0
    after = retrieve_metadata("ns")
    assert all(meta.views == 0 for meta in after.values())
    # Every worker-owned object was released at the worker's exit.
    assert sorted(after) == sorted(SHARED) or sorted(after) == sorted(SHARED + ["mixed"])
    for name in SHARED:
        view = retrieve_views("ns", name)[name]
        assert (view == int(name[1:])).all()
    assert gc().temp_files == ()
    assert not list((store_root / "ns").glob(".*"))


@pytest.mark.slow
def test_lock_file_churn(store_root: Path) -> None:
    # One thread registers and releases "x" over and over, deleting its lock
    # file each time, while others retrieve and release it. A reader that
    # waited on a deleted lock file must retry on the new one.
    import threading

    stop = threading.Event()
    errors: list[BaseException] = []
    taken = [0]

    def churn() -> None:
        from memshare.store import release_variables

        value = 0
        while not stop.is_set():
            value += 1
            register_variables("ns", {"x": np.full(1000, value)})
            release_variables("ns", "x")

    def read() -> None:
        from memshare.store import ObjectNotFoundError, release_views

        while not stop.is_set():
            try:
                view = retrieve_views("ns", "x")["x"]
            except ObjectNotFoundError:
                continue
            try:
                assert (view == view[0]).all()
                taken[0] += 1
            except BaseException as error:
                errors.append(error)
            release_views("ns", "x")

    def guarded(target) -> None:  # type: ignore[no-untyped-def]
        try:
            target()
        except BaseException as error:
            errors.append(error)
            stop.set()

    threads = [threading.Thread(target=guarded, args=(churn,))]
    threads += [threading.Thread(target=guarded, args=(read,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    stop.wait(2.0)
    stop.set()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert taken[0] > 0
    # The last release removed the empty namespace folder too.
    assert list(store_root.iterdir()) == []
