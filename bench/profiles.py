"""Sampling profiles of running services with py-spy, for ``make bench PROFILE=1``.

py-spy samples a process from outside (``--nonblocking``: it never pauses the target), so
the services run as they do unprofiled. Each profile is written in py-spy's ``raw`` format,
folded stacks (``frame;frame;frame count`` per line), which flamegraph.pl and speedscope
read, and :func:`top` sums into the frames that cost the most.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 200
"""Samples per second and process."""


class Profiles:
    """py-spy recorders, one per service pid, from :meth:`start` until :meth:`stop`."""

    def __init__(self, out: Path, label: str) -> None:
        self.out = out
        self.label = label
        self._recorders: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self, pids: dict[str, int]) -> None:
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
        self.out.mkdir(parents=True, exist_ok=True)
        for name, pid in pids.items():
            path = self.out / f"{self.label}-{name}.folded"
            command = [spy, "record", "--pid", str(pid), "--nonblocking", "--rate", str(RATE)]
            command += ["--format", "raw", "--output", str(path)]
            self._recorders[name] = (
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                path,
            )

    def stop(self) -> dict[str, Path]:
        """Ends every recorder (py-spy writes its file on SIGINT); returns the files written."""
        written = {}
        for name, (recorder, path) in self._recorders.items():
            recorder.send_signal(signal.SIGINT)
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()
            if path.exists():
                written[name] = path
        self._recorders.clear()
        return written


def top(path: Path, count: int = 15, by_self: bool = False) -> list[tuple[str, float, float]]:
    """The frames with most samples: (frame, self share, total share), by total (or by
    self) share, descending. A frame's total counts each sample once even when the frame
    recurs in its stack."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        weight = int(n)
        frames = stack.split(";")
        samples += weight
        own[frames[-1]] += weight
        for frame in set(frames):
            total[frame] += weight
    if samples == 0:
        return []
    ranked = (own if by_self else total).most_common(count)
    return [(frame, own[frame] / samples, total[frame] / samples) for frame, _ in ranked]


def main() -> None:
    """``python bench/profiles.py FILE [N] [--self]``: print a folded profile's costliest
    frames, total share then self share."""
    args = [a for a in sys.argv[1:] if a != "--self"]
    count = int(args[1]) if len(args) > 1 else 40
    for frame, own, total in top(Path(args[0]), count, by_self="--self" in sys.argv):
        print(f"{total:6.1%} {own:6.1%}  {frame}")


if __name__ == "__main__":
    main()
