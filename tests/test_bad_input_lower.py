"""Hostile input for the lower layers (issue 12): atomic files, store integrity, audio, study."""

import multiprocessing
import os
import stat

import pytest

from frisson._io import atomic_write, atomic_write_bytes, atomic_write_text


# ----------------------------------------------------------------------------- _io
def _hammer(target, tag, n, errors):
    payload = tag * 200_000  # big enough that writes overlap in time
    try:
        for _ in range(n):
            atomic_write_bytes(target, payload)
    except BaseException as error:  # reported to the parent
        errors.put(f"{type(error).__name__}: {error}")


def test_two_processes_writing_the_same_file_never_collide(tmp_path):
    target = tmp_path / "step.pkl"
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    workers = [
        context.Process(target=_hammer, args=(target, tag, 150, errors)) for tag in (b"a", b"b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert errors.empty(), errors.get()
    data = target.read_bytes()
    assert data in (b"a" * 200_000, b"b" * 200_000)  # one writer's complete file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step.pkl"]  # no .tmp left


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_the_final_file_respects_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write_text(tmp_path / "table.tsv", "a\tb\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert path.read_text() == "a\tb\n"


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_tmp(tmp_path):
    target = tmp_path / "result.tsv"
    target.write_text("old result\n")

    def half(tmp):
        with open(tmp, "w") as handle:
            handle.write("new resu")
            handle.flush()
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, half)
    assert target.read_text() == "old result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.tsv"]

    def interrupted(tmp):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "new.tsv", interrupted)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.tsv"]
