"""A built image run without a container runtime: its root filesystem exported from podman's storage into a
directory, /proc mounted and the usual character devices made in it, and its entrypoint started under ``chroot``
as the image's user, with the image's environment and working directory.

Nothing of the host is bound into the directory (the devices are made, not bound), so removing it can never reach
the host; it is removed only once nothing is mounted under it any more.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.ports import free_port

# name, major, minor: what a Docker or podman container finds in its /dev
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
READY_SECONDS = 120.0


@dataclass(frozen=True)
class ImageConfig:
    """What a container runtime takes from the image's configuration to start it."""

    env: dict[str, str]
    command: list[str]
    user: str
    workdir: str

    @classmethod
    def inspect(cls, image: str) -> ImageConfig:
        done = subprocess.run(
            ["podman", "image", "inspect", "--format", "json", image], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"podman cannot inspect {image}: {done.stderr.strip()}")
        config = json.loads(done.stdout)[0]["Config"]
        env = dict(item.split("=", 1) for item in config.get("Env") or [])
        command = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        return cls(env=env, command=command, user=config.get("User") or "root", workdir=config.get("WorkingDir") or "/")


@dataclass(frozen=True)
class Account:
    """A user of the image, from the image's own /etc/passwd."""

    uid: int
    gid: int
    home: str

    @classmethod
    def find(cls, root: Path, user: str) -> Account:
        name = user.split(":", 1)[0]
        for line in (root / "etc" / "passwd").read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= 7 and name in (fields[0], fields[2]):
                return cls(uid=int(fields[2]), gid=int(fields[3]), home=fields[5])
        raise LookupError(f"user {user!r} of the image is not in its /etc/passwd")


@contextmanager
def exported(image: str, parent: Path) -> Iterator[Path]:
    """The image's root filesystem in a new directory under ``parent``, with /proc mounted; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="sealgate-rootfs.", dir=parent))
    root.chmod(0o755)  # it becomes /, which every user traverses (mkdtemp makes it 0700)
    try:
        _export(image, root)
        _make_devices(root / "dev")
        (root / "proc").mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
        try:
            yield root
        finally:
            _unmount(root / "proc")
    finally:
        still = mounts_under(root)
        if still:
            raise RuntimeError(f"left {root} in place: still mounted there: {', '.join(still)}")
        # --one-file-system: should a mount have appeared since, rm stops at it rather than enter it
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=True)


def _export(image: str, root: Path) -> None:
    created = subprocess.run(["podman", "create", image], capture_output=True, text=True, check=False)
    if created.returncode != 0:
        raise RuntimeError(f"podman cannot create a container of {image}: {created.stderr.strip()}")
    container = created.stdout.strip().splitlines()[-1]
    try:
        with subprocess.Popen(["podman", "export", container], stdout=subprocess.PIPE) as export:
            untar = subprocess.run(
                ["tar", "-x", "--numeric-owner", "-C", str(root)], stdin=export.stdout, capture_output=True, check=False
            )
        if export.returncode != 0 or untar.returncode != 0:
            raise RuntimeError(f"exporting {image} failed: {untar.stderr.decode(errors='replace').strip()}")
    finally:
        subprocess.run(["podman", "rm", "--force", container], capture_output=True, check=False)


def _make_devices(dev: Path) -> None:
    dev.mkdir(exist_ok=True)
    for name, major, minor in DEVICES:
        path = dev / name
        if path.exists() or path.is_symlink():
            path.unlink()
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        path.chmod(0o666)  # mknod's mode passes through the umask
    (dev / "shm").mkdir(exist_ok=True)
    (dev / "shm").chmod(0o1777)


def _unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, from the kernel's table (octal escapes such as ``\\040`` decoded)."""
    found = []
    prefix = str(root.resolve())
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return found


def inside(root: Path, path: str) -> Path:
    """Where a path of the image lies on the host."""
    return root / path.lstrip("/")


def chroot_command(root: Path, config: ImageConfig, command: list[str]) -> list[str]:
    """``command`` run in the image's working directory, as its user (with that user's group alone)."""
    account = Account.find(root, config.user)
    return [
        "chroot",
        f"--userspec={account.uid}:{account.gid}",
        f"--groups={account.gid}",
        str(root),
        "/bin/sh",
        "-c",
        'cd "$1" && shift && exec "$@"',
        "sh",
        config.workdir,
        *command,
    ]


def environment(root: Path, config: ImageConfig, **settings: str) -> dict[str, str]:
    """The image's environment, HOME as a container runtime sets it, and the given settings over them."""
    return {"HOME": Account.find(root, config.user).home, **config.env, **settings}


def empty_directory(root: Path, config: ImageConfig, path: str) -> Path:
    """``path`` of the image made empty again, owned by the image's user (mode 0700), as a new volume on it is."""
    account = Account.find(root, config.user)
    directory = inside(root, path)
    if directory.exists():
        shutil.rmtree(directory)  # a directory of the image's own, under none of the mounts
    directory.mkdir(mode=0o700, parents=True)
    os.chown(directory, account.uid, account.gid)
    return directory


@contextmanager
def serving(root: Path, config: ImageConfig, log: Path, **settings: str) -> Iterator[str]:
    """The image's entrypoint under chroot on a free local port; yields its base URL once /readyz answers 200.
    Stops every process it started (SIGTERM to the process group, then SIGKILL) however the block ends."""
    port = free_port()
    env = environment(root, config, SEALGATE_HOST="127.0.0.1", SEALGATE_PORT=str(port), **settings)
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            chroot_command(root, config, config.command),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(proc, base, log)
            yield base
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    last = "no answer"
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"the entrypoint exited with {proc.returncode}:\n{log.read_text()}")
        try:
            answer = httpx.get(base + "/readyz", timeout=2)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text}"
        except httpx.TransportError as exc:
            last = repr(exc)
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz did not answer 200 in {READY_SECONDS:.0f} s ({last}):\n{log.read_text()}")
        time.sleep(0.25)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    _signal_group(proc.pid, signal.SIGKILL)  # what is left: a child the service started, or the service itself
    proc.wait(timeout=10)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)
