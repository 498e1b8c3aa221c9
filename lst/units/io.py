"""Small shared pieces of the unit tools: Kaldi text files, ordered parallel map, reports.

Kept apart from the DSP and k-means code so that every CLI reads, writes and reports the
same way ("N in, M written, K skipped (reasons)").
"""
import collections
import logging
import multiprocessing
import os
import sys
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
from threadpoolctl import threadpool_limits

from lst.data import kaldi_dir


class ToolError(Exception):
    """A user-facing failure: the CLI prints ``str(error)`` on one line and exits 1."""


def require_file(tool: str, path: str, made_by: str) -> str:
    """Stop with a one-line message when an input file from an earlier stage is missing."""
    if not os.path.isfile(path):
        raise ToolError(f"{tool}: {path} not found (made by {made_by})")
    return path


def read_kaldi_map(path: str) -> List[Tuple[str, str]]:
    """Read a Kaldi ``key value...`` file into an ordered list of (key, rest of line).

    Duplicate ids and non-UTF-8 lines stop the tool with a message naming file:line.
    """
    try:
        return list(kaldi_dir.read_kaldi_map(path, allow_empty_value=True).items())
    except kaldi_dir.DataDirError as e:
        raise ToolError(str(e)) from None


def write_kaldi_map(path: str, entries: Iterable[Tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for key, value in entries:
            f.write(f"{key} {value}\n")


def check_input_dir(tool: str, directory: str, made_by: str) -> Optional[dict]:
    """The input's completion marker (see lst.stage_io), or None for a hand-made directory;
    a marker that does not match the files is a one-line ToolError."""
    from lst.stage_io import StageError, check_stage

    try:
        return check_stage(directory, made_by, tool)
    except StageError as e:
        raise ToolError(str(e)) from None


def input_fingerprints(**paths) -> Dict[str, str]:
    """{name: content fingerprint} of input files / stage directories (lst.stage_io)."""
    from lst.stage_io import fingerprint

    return {name: fingerprint(p) for name, p in paths.items() if p is not None and os.path.exists(p)}


def format_ints(values: np.ndarray) -> str:
    return " ".join(map(str, np.asarray(values).tolist()))


def read_int_sequences(path: str) -> Dict[str, np.ndarray]:
    """Read ``utt u u u`` lines (units or durations) into {utt: int array}."""
    return {
        utt: np.array(rest.split(), dtype=np.int64) for utt, rest in read_kaldi_map(path)
    }


def str2bool(value: str) -> bool:
    """argparse type for ``--dedup true|false`` (the ESPnet spelling)."""
    lowered = str(value).lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        stream=sys.stderr,
    )


class SkipReport:
    """Counts inputs, outputs and skips by reason, and logs each skip once."""

    def __init__(self, tool: str, logger: logging.Logger):
        self.tool = tool
        self.logger = logger
        self.n_in = 0
        self.n_written = 0
        self.skips: List[Tuple[str, str, str]] = []  # (utt, reason, detail)
        self.notes = collections.Counter()

    def skip(self, utt: str, reason: str, detail: str = "") -> None:
        self.skips.append((utt, reason, detail))
        self.logger.warning("%s: skipping %s: %s%s", self.tool, utt, reason,
                            f" ({detail})" if detail else "")

    def summary(self) -> str:
        reasons = collections.Counter(reason for _, reason, _ in self.skips)
        why = ", ".join(f"{r}: {n}" for r, n in sorted(reasons.items()))
        line = (f"{self.tool}: {self.n_in} in, {self.n_written} written, "
                f"{len(self.skips)} skipped" + (f" ({why})" if why else ""))
        if self.notes:
            line += "; " + ", ".join(f"{k}: {n}" for k, n in sorted(self.notes.items()))
        return line

    def counts(self) -> Dict[str, int]:
        """For the completion marker: in, written, skipped (and skipped per reason)."""
        reasons = collections.Counter(reason for _, reason, _ in self.skips)
        return {"in": self.n_in, "written": self.n_written, "skipped": len(self.skips),
                **{f"skipped_{r}": n for r, n in sorted(reasons.items())}}

    def finish(self) -> None:
        """Log the summary; fail when inputs existed but nothing was written."""
        self.logger.info(self.summary())
        if self.n_in == 0:
            raise ToolError(f"{self.tool}: no input entries")
        if self.n_written == 0:
            raise ToolError(f"{self.tool}: all {self.n_in} inputs were skipped; "
                            f"first: {self.skips[0][0]}: {self.skips[0][1]} {self.skips[0][2]}")


_worker_state = {}


def single_threaded():
    """Limit BLAS/OpenMP pools to one thread.

    Parallelism comes from --nj. Our matrices are small (a mel filterbank, a codebook), and
    on a busy 2-core machine OpenBLAS threads spinning against each other made MFCC
    extraction 6x slower than one thread.
    """
    return threadpool_limits(limits=1)


def _init_worker(initializer: Optional[Callable], initargs: tuple) -> None:
    _worker_state["blas_limit"] = single_threaded()  # kept alive for the process' life
    if initializer is not None:
        _worker_state["state"] = initializer(*initargs)
    if "torch" in sys.modules:  # only SSL workers load torch; importing it costs ~1 s
        sys.modules["torch"].set_num_threads(1)


def _call_worker(args):
    fn, item = args
    return fn(_worker_state.get("state"), item)


def ordered_map(fn: Callable, items: List, nj: int = 1, initializer: Callable = None,
                initargs: tuple = (), chunksize: int = 4) -> Iterator:
    """Yield ``fn(state, item)`` for each item, in input order, using ``nj`` processes.

    ``state = initializer(*initargs)`` is built once per process (a model, a k-means
    codebook), so nothing large crosses process boundaries per item. Processes are
    spawned, not forked: forking a parent that has already run torch can deadlock.
    Results come back in input order, so outputs are identical for any ``nj``.
    """
    nj = min(nj, len(items))
    if nj <= 1:
        state = initializer(*initargs) if initializer is not None else None
        with single_threaded():
            for item in items:
                yield fn(state, item)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(nj, initializer=_init_worker, initargs=(initializer, initargs)) as pool:
        yield from pool.imap(_call_worker, [(fn, item) for item in items], chunksize=chunksize)


def run_tool(main: Callable, argv=None) -> None:
    """Run a CLI ``main``; a ToolError/StageError becomes a one-line message and exit status 1,
    and so does an OSError (disk full, permission) that escaped the tool."""
    from lst.stage_io import StageError, io_error_message

    try:
        main(argv)
    except (ToolError, StageError) as e:
        sys.exit(str(e))  # one line on stderr, exit status 1
    except OSError as e:
        tool = getattr(main, "__module__", "lst").rsplit(".", 1)[-1]
        sys.exit(f"{tool}: {io_error_message(e.filename or '?', e)}")
