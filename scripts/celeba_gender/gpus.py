"""One GPU per job on a multi-GPU machine: a slot allocator built on OS file locks.

``snakemake --resources gpu=N`` only caps how many GPU jobs run at once; Snakemake gives a job no
device id (snakemake issue #281), so every job would use card 0. A GPU job therefore claims one
device id for its lifetime (``claim_gpu``): it tries an exclusive, non-blocking ``fcntl.flock`` on
one lock file per id, in a folder shared by every checkout and user of the machine
(``DEFAULT_LOCK_DIR``, or ``$CELEBA_GENDER_GPU_LOCK_DIR``), waits and retries while every id is
taken, and sets ``CUDA_VISIBLE_DEVICES`` to the id it got, which must happen before torch
initialises CUDA in the process. The job's ``cuda`` device is then that card. The kernel drops a
flock lock when its process dies, even by SIGKILL, so a killed job never blocks a card.

Which ids: the config's ``gpus`` list; with ``gpus: null`` the ids of a ``CUDA_VISIBLE_DEVICES``
the user set, else every GPU of the machine, counted without initialising CUDA here (NVML, else
``nvidia-smi -L``). Nothing is claimed and nothing changes under SLURM (``SLURM_JOB_ID`` set: the
allocation's ``CUDA_VISIBLE_DEVICES`` is kept), without a GPU, for a device other than ``auto`` or
``cuda``, or when CUDA is already initialised in the process (too late to choose a card).

Standard library only; torch is never imported here.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .io import CelebaGenderError

VISIBLE = "CUDA_VISIBLE_DEVICES"
LOCK_DIR_VARIABLE = "CELEBA_GENDER_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = Path("/tmp/celeba-gender-gpu-locks")
POLL_SECONDS = 2.0


class GpuWaitTimeout(CelebaGenderError):
    """Every id stayed taken for the whole ``timeout_s`` of a claim."""


@dataclass
class GpuSlot:
    """What a job got: ``device`` (the claimed id; None when nothing was claimed) and ``note``
    (where the ids came from, or why nothing was claimed). ``release()`` frees the id and restores
    ``CUDA_VISIBLE_DEVICES``; it is also a context manager."""

    device: str | None
    note: str
    lock_path: Path | None = None
    waited_s: float = 0.0
    _fd: int | None = field(default=None, repr=False)
    _environ: MutableMapping[str, str] | None = field(default=None, repr=False)
    _previous: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """The slot in words, for the log's host line."""
        if self.device is None:
            return self.note
        waited = f", after waiting {self.waited_s:.0f} s" if self.waited_s >= 1 else ""
        return f"gpu {self.device} claimed from {self.note}, lock {self.lock_path}{waited}"

    def release(self) -> None:
        if self._fd is None:
            return
        if self._environ is not None and self._environ.get(VISIBLE) == self.device:
            if self._previous is None:
                self._environ.pop(VISIBLE, None)
            else:
                self._environ[VISIBLE] = self._previous
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> GpuSlot:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# ---------------------------------------------------------------- which ids


def count_gpus_nvml() -> int | None:
    """The number of NVIDIA GPUs NVML sees (all of the machine's: NVML ignores
    CUDA_VISIBLE_DEVICES), or None when NVML is not there. NVML does not initialise CUDA."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return None
    if nvml.nvmlInit_v2() != 0:
        return None
    try:
        count = ctypes.c_uint(0)
        if nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0:
            return None
        return count.value
    finally:
        nvml.nvmlShutdown()


def count_gpus_smi() -> int | None:
    """The number of GPUs ``nvidia-smi -L`` lists, or None when it cannot tell."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def count_gpus() -> int:
    """GPUs of this machine, counted without initialising CUDA in this process; 0 when neither
    NVML nor nvidia-smi answers (no NVIDIA GPU)."""
    for count in (count_gpus_nvml, count_gpus_smi):
        n = count()
        if n is not None:
            return n
    return 0


def visible_ids(value: str) -> list[str]:
    """The ids of a CUDA_VISIBLE_DEVICES value ("0,2", "GPU-<uuid>,..."); CUDA stops at the first
    negative id, so "-1" (or "") hides every GPU."""
    ids = []
    for item in value.split(","):
        item = item.strip()
        if not item or item.startswith("-"):
            break
        ids.append(item)
    return ids


def candidate_ids(
    gpus: Sequence[int | str] | None,
    environ: MutableMapping[str, str],
    count: Callable[[], int] = count_gpus,
) -> tuple[list[str], str]:
    """The ids a job may claim, and where they come from (for the log): ``gpus`` when given;
    else the ids of the user's CUDA_VISIBLE_DEVICES; else range(count())."""
    if gpus is not None:
        ids = [str(g) for g in gpus]
        return ids, f"gpus [{', '.join(ids)}]"
    if VISIBLE in environ:
        return visible_ids(environ[VISIBLE]), f"{VISIBLE}={environ[VISIBLE]} (gpus null)"
    n = count()
    where = f"the {n} GPU(s) of this machine" if n else "this machine, which has no GPU"
    return [str(i) for i in range(n)], f"{where} (gpus null)"


def claims_a_gpu(device: str) -> bool:
    """Whether a job on ``device`` (train.device) needs a card picked for it: ``auto`` or
    ``cuda``. An explicit ``cuda:N`` pins a card itself; ``cpu`` and ``mps`` use none."""
    return device in ("auto", "cuda")


def cuda_initialised() -> bool:
    """Whether torch has initialised CUDA in this process (then CUDA_VISIBLE_DEVICES no longer
    changes which card it uses). Looks only when torch is already imported."""
    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_initialized())


# ---------------------------------------------------------------- the lock files


def lock_folder(environ: MutableMapping[str, str]) -> Path:
    """The machine's lock folder, created world-writable with the sticky bit (mode 1777, as /tmp)
    so that every user's jobs share it."""
    folder = Path(environ.get(LOCK_DIR_VARIABLE) or DEFAULT_LOCK_DIR)
    try:
        folder.mkdir(parents=True)
        os.chmod(folder, 0o1777)  # mkdir's mode is cut by the umask
    except FileExistsError:
        pass
    except OSError as err:
        raise CelebaGenderError(
            f"cannot create the GPU lock folder {folder} ({err}); set {LOCK_DIR_VARIABLE} to a "
            "folder every user of this machine can write to"
        ) from err
    if not folder.is_dir():
        raise CelebaGenderError(
            f"the GPU lock folder {folder} is not a folder; remove it or set {LOCK_DIR_VARIABLE}"
        )
    return folder


def lock_file(folder: Path, device: str) -> Path:
    return folder / f"gpu{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def open_lock_file(path: Path) -> int:
    """A read-only descriptor of the lock file (flock needs no write access), created mode 0666
    if missing. An existing file is opened without O_CREAT: in a sticky folder the kernel may
    refuse O_CREAT on another user's file (fs.protected_regular)."""
    while True:
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue  # another job created it meanwhile
        os.fchmod(fd, 0o666)  # the umask cut the mode
        return fd


def try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive flock on ``path``, or None if another holds it."""
    fd = open_lock_file(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def print_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the claim


def claim_gpu(
    gpus: Sequence[int | str] | None,
    device: str = "auto",
    *,
    environ: MutableMapping[str, str] | None = None,
    count: Callable[[], int] = count_gpus,
    poll_s: float = POLL_SECONDS,
    timeout_s: float | None = None,
    on_wait: Callable[[str], None] = print_to_stderr,
) -> GpuSlot:
    """Claim one free id of ``gpus`` (see the module doc) and set CUDA_VISIBLE_DEVICES to it in
    ``environ`` (os.environ by default); wait, trying again every ``poll_s`` seconds, while all
    are taken (``on_wait`` is told once; GpuWaitTimeout after ``timeout_s``, None waits for ever).
    Call it before anything in the process touches torch.cuda, even ``is_available()``.
    The id is held until ``release()`` (or the end of the process)."""
    environ = os.environ if environ is None else environ
    if environ.get("SLURM_JOB_ID"):
        return GpuSlot(None, "a SLURM job: the allocation's devices, kept")
    if not claims_a_gpu(device):
        return GpuSlot(None, f"device {device}: no GPU claimed")
    if cuda_initialised():
        return GpuSlot(None, "CUDA already initialised in this process: no GPU claimed")
    ids, source = candidate_ids(gpus, environ, count)
    if not ids:
        return GpuSlot(None, f"no id to claim from {source}: nothing claimed")
    folder = lock_folder(environ)
    held = f"every id of {source} is held by another job"  # the wait's and the timeout's cause
    locks = f"(lock files in {folder})"
    start = time.monotonic()
    told = False
    while True:
        for each in ids:
            path = lock_file(folder, each)
            fd = try_lock(path)
            if fd is not None:
                previous = environ.get(VISIBLE)
                environ[VISIBLE] = each
                return GpuSlot(each, source, path, time.monotonic() - start, fd, environ, previous)
        waited = time.monotonic() - start
        if timeout_s is not None and waited >= timeout_s:
            raise GpuWaitTimeout(f"no free GPU after {waited:.0f} s: {held} {locks}")
        if not told:
            on_wait(f"waiting for a free GPU: {held} on this machine {locks}")
            told = True
        time.sleep(poll_s)


def host_line(slot: GpuSlot | None = None, environ: MutableMapping[str, str] | None = None) -> str:
    """The first line of a GPU job's log: the host, the devices the job may use, the SLURM job,
    and the slot (``host n1, CUDA_VISIBLE_DEVICES=1, SLURM_JOB_ID=none (gpu 1 claimed ...)``)."""
    environ = os.environ if environ is None else environ
    line = (
        f"host {os.uname().nodename}, {VISIBLE}={environ.get(VISIBLE, 'unset')}, "
        f"SLURM_JOB_ID={environ.get('SLURM_JOB_ID', 'none')}"
    )
    return line if slot is None else f"{line} ({slot.describe()})"
