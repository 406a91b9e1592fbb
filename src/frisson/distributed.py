"""Scale-out on Dask: one ``scheduler`` setting runs a loop of independent tasks on a cluster.

``frisson embed``, ``frisson run`` and ``frisson encode`` take ``--scheduler`` (and
the TOML key ``scheduler``). Its value is one of:

* nothing (``None``, the default): every task runs here, in this process, as before;
* ``local:N``: a Dask ``LocalCluster`` of N worker processes with one thread each,
  started for the command and closed after it (its dashboard, when ``bokeh`` is
  installed, is at http://localhost:8787/status unless the port is taken);
* ``tcp://host:port`` (or ``tls://``, ``ws://``, ``wss://``): a running Dask
  scheduler, e.g. ``dask scheduler`` on a login node with ``dask worker`` jobs;
* a path to a scheduler file (JSON, as written by ``dask scheduler --scheduler-file``
  or ``dask-jobqueue``'s clusters): the same scheduler, found through the file.

:func:`map_tasks` runs a function over items on that scheduler: results come
back in input order, a progress bar counts finished tasks on the client, and a
task that fails (an exception, or a worker that died more often than Dask
retries) becomes a :class:`TaskFailure` naming its input while the other tasks
go on. The scheduler never enters a cache key: serial and distributed runs of
the same inputs share the embedding store and the step caches, and give the
same results.

Dask is optional (``pip install "frisson[dask]"``); without it, only ``None``
works and any other value raises :class:`~frisson._optional.MissingExtraError`
naming the extra.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from frisson._docs import fill_doc
from frisson._logging import logger, progress_enabled
from frisson._optional import import_optional
from frisson.errors import DataError, FrissonError, ParameterError

__all__ = [
    "SchedulerSpec",
    "TaskFailure",
    "TaskReport",
    "check_scheduler",
    "map_tasks",
    "open_client",
]

#: What ``scheduler`` may be: None, ``"local:N"``, a scheduler address, a scheduler
#: file, or an open ``distributed.Client`` (reused, not closed).
SchedulerSpec = Any
T = TypeVar("T")

_LOCAL = re.compile(r"^local:(\d+)$")
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|inproc)://\S+$")
_FORMS = "local:N (N workers here), tcp://host:port (a running scheduler) or a scheduler file"


def check_scheduler(spec: str | os.PathLike | None) -> str | None:
    """Check a ``scheduler`` setting's form (nothing is started or contacted).

    Parameters
    ----------
    spec : str, path-like or None
        ``None``, ``"local:N"`` (N >= 1), a ``tcp://host:port`` address or the
        path of a scheduler file (which must exist).

    Returns
    -------
    str or None
        The setting as text (a path as given), or None.

    Raises
    ------
    ParameterError
        If the form is not one of these, naming the value and the valid forms.

    Examples
    --------
    >>> check_scheduler("local:2")
    'local:2'
    >>> check_scheduler(None) is None
    True

    """
    if spec is None:
        return None
    if not isinstance(spec, str | os.PathLike):
        raise ParameterError(f"scheduler = {spec!r} must be text: {_FORMS}.")
    text = os.fspath(spec).strip()
    local = _LOCAL.match(text)
    if local:
        if int(local.group(1)) < 1:
            raise ParameterError(f"scheduler = {text!r}: local:N needs N >= 1 workers.")
        return text
    if text.startswith("local"):
        raise ParameterError(f"scheduler = {text!r}: write local:N with N workers, e.g. local:4.")
    if "://" in text:
        if not _ADDRESS.match(text):
            raise ParameterError(f"scheduler = {text!r} is not a scheduler address; use {_FORMS}.")
        return text
    if not Path(text).is_file():
        raise ParameterError(
            f"scheduler = {text!r}: no such scheduler file; use {_FORMS} "
            "(start the scheduler first: `dask scheduler --scheduler-file FILE`)."
        )
    return text


@contextlib.contextmanager
def open_client(spec: SchedulerSpec) -> Iterator[Any]:
    """A Dask client for a ``scheduler`` setting (None for in-process), closed on exit.

    ``local:N`` starts a ``LocalCluster`` of N processes with one thread each and
    closes it on exit; an address or scheduler file connects to a running
    scheduler and only disconnects; an open ``distributed.Client`` is yielded as
    it is and left open.

    Parameters
    ----------
    spec : None, str, path-like or distributed.Client
        See :func:`check_scheduler`.

    Yields
    ------
    distributed.Client or None

    Raises
    ------
    ParameterError
        If the setting's form is wrong (:func:`check_scheduler`).
    DataError
        If the scheduler at the address or in the file cannot be reached.

    Examples
    --------
    >>> with open_client(None) as client:
    ...     client is None
    True

    """
    if spec is None:
        yield None
        return
    if not isinstance(spec, str | os.PathLike):  # an open client: the caller owns it
        yield spec
        return
    text = check_scheduler(spec)
    distributed = import_optional("distributed")
    local = _LOCAL.match(text)
    with contextlib.ExitStack() as stack:
        if local:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=int(local.group(1)),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":8787",
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(_connect(distributed, text))
        logger.info("dask scheduler %s; dashboard %s", client.scheduler.address, _dashboard(client))
        yield client


def _connect(distributed, text: str):
    """A client of a running scheduler (its address, or its scheduler file)."""
    try:
        if "://" in text:
            return distributed.Client(text)
        return distributed.Client(scheduler_file=text)
    except Exception as error:  # refused, timed out, a damaged file: distributed raises many
        raise DataError(
            f"scheduler = {text!r}: cannot reach the Dask scheduler ({type(error).__name__}: "
            f"{error}); start it (`dask scheduler`), or check the address or the file."
        ) from None


def _dashboard(client) -> str:
    try:
        return str(client.dashboard_link)
    except Exception:  # no bokeh, or no dashboard on that scheduler
        return "unavailable (install bokeh)"


@dataclass(frozen=True)
class TaskFailure:
    """A task :func:`map_tasks` could not complete, and why.

    Attributes
    ----------
    index : int
        Its position among the items.
    item : object
        Its input.
    error : str
        One line naming the input and the error.
    exception : BaseException or None
        The exception itself (as raised on the worker, when it could be sent back).

    """

    index: int
    item: Any
    error: str
    exception: BaseException | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TaskReport(Generic[T]):
    """What :func:`map_tasks` returned.

    Attributes
    ----------
    results : tuple
        One per item, in input order; None where the task failed.
    failed : tuple of TaskFailure
        The failed tasks, in input order.

    """

    results: tuple[T | None, ...]
    failed: tuple[TaskFailure, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no task failed."""
        return not self.failed

    def summary(self) -> str:
        """One line: how many tasks finished and failed."""
        done = len(self.results) - len(self.failed)
        return f"{len(self.results)} tasks: {done} done, {len(self.failed)} failed"


def _failure(index: int, item: Any, error: BaseException) -> TaskFailure:
    message = str(error) if isinstance(error, FrissonError) else f"{type(error).__name__}: {error}"
    if str(item) not in message:
        message = f"{item}: {message}"
    return TaskFailure(index, item, message, error)


@fill_doc
def map_tasks(
    fn: Callable[[Any], T],
    items: Sequence[Any],
    scheduler: SchedulerSpec = None,
    *,
    desc: str = "tasks",
    progress_bar: bool | None = None,
) -> TaskReport[T]:
    """Run ``fn(item)`` for every item, here or on a Dask cluster; results in input order.

    Parameters
    ----------
    fn : callable
        A function of one item; with a scheduler it must pickle (a module-level
        function, or a ``functools.partial`` of one) and it runs in the workers'
        processes (write results to shared storage or return them).
    items : sequence
        Its inputs (their ``str`` names them in failures).
    scheduler : None, str, path-like or distributed.Client
        Where to run (see :func:`check_scheduler`): None runs the items one after
        the other in this process.
    desc : str
        Label of the progress bar and of the tasks on the Dask dashboard.
    %(progress_bar)s

    Returns
    -------
    TaskReport
        ``results`` in input order (None where a task failed) and ``failed``:
        a task that raised, or whose worker died more often than Dask retries a
        task (``distributed.scheduler.allowed-failures``), names its input; the
        other tasks go on.

    Examples
    --------
    >>> report = map_tasks(lambda x: 10 // x, [1, 2, 0, 5], desc="divide", progress_bar=False)
    >>> report.results
    (10, 5, None, 2)
    >>> report.failed[0].error
    '0: ZeroDivisionError: integer division or modulo by zero'

    """
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    items = list(items)
    show = progress_enabled(progress_bar)
    results: list[Any] = [None] * len(items)
    failed: list[TaskFailure] = []
    bar = tqdm(total=len(items), desc=desc, unit="task", disable=not show)
    redirect = logging_redirect_tqdm() if show else contextlib.nullcontext()
    with redirect, open_client(scheduler) as client:
        if client is None:
            for index, item in enumerate(items):
                try:
                    results[index] = fn(item)
                except Exception as error:  # recorded, the other items go on
                    failed.append(_failure(index, item, error))
                    logger.warning("%s", failed[-1].error)
                bar.update()
        else:
            _gather(client, fn, items, desc, bar, results, failed)
    bar.close()
    failed.sort(key=lambda f: f.index)
    return TaskReport(tuple(results), tuple(failed))


def _gather(client, fn, items, desc: str, bar, results: list, failed: list) -> None:
    """Submit one task per item and collect them as they finish (failures recorded)."""
    distributed = import_optional("distributed")
    prefix = re.sub(r"[^A-Za-z0-9_]+", "_", desc) or "task"
    token = uuid.uuid4().hex[:8]
    futures = [
        client.submit(fn, item, key=f"{prefix}-{token}-{index}", pure=False)
        for index, item in enumerate(items)
    ]
    where = {future.key: index for index, future in enumerate(futures)}
    try:
        for future in distributed.as_completed(futures):
            index = where[future.key]
            if future.status == "finished":
                results[index] = future.result()
            else:
                error = (
                    future.exception()
                    if future.status == "error"
                    else RuntimeError(f"task {future.status} on the cluster")
                )
                failed.append(_failure(index, items[index], error))
                logger.warning("%s", failed[-1].error)
            future.release()
            bar.update()
    except BaseException:  # interrupted: nothing keeps running on the cluster
        client.cancel(futures)
        raise
