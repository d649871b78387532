"""A progress bar on stderr: redrawn in place on a terminal, a line every 10% otherwise (logs)."""

import sys
import time


class Progress:

  def __init__(self, total: int, label: str, stream=None, enabled: bool = True, width: int = 30):
    self._total = max(0, int(total))
    self._label = label
    self._stream = stream or sys.stderr
    self._enabled = enabled
    self._width = width
    self._start = time.perf_counter()
    self._done = 0
    self._last_decile = -1
    self._tty = hasattr(self._stream, "isatty") and self._stream.isatty()

  def update(self, done: int) -> None:
    self._done = done
    if not self._enabled:
      return
    elapsed = time.perf_counter() - self._start
    rate = done / elapsed if elapsed > 0 else 0.0
    if self._total:
      fraction = min(1.0, done / self._total)
      filled = int(round(fraction * self._width))
      bar = "#" * filled + "." * (self._width - filled)
      text = f"{self._label} [{bar}] {done}/{self._total} {rate:.1f}/s"
    else:
      fraction = 0.0
      text = f"{self._label} {done} {rate:.1f}/s"
    if self._tty:
      self._stream.write("\r" + text)
      self._stream.flush()
    else:
      decile = int(fraction * 10)
      if decile > self._last_decile:
        self._last_decile = decile
        self._stream.write(text + "\n")
        self._stream.flush()

  def close(self) -> None:
    if self._enabled and self._tty:
      self._stream.write("\n")
      self._stream.flush()
