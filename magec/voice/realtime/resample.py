"""Streaming resampler: browser float32 PCM at any rate → 16 kHz float32 for the detectors.

Contract: :class:`Resampler` ``(source_rate)``; :meth:`Resampler.process` takes any number of
samples and returns the 16 kHz samples they complete, carrying the fractional read position and the
last input sample across calls, so a stream cut into arbitrary frames resamples exactly as the whole
(no clicks at frame edges). Downsampling first averages over the ratio's width (a box low-pass that
keeps aliasing out of the 0-8 kHz band the detectors use); then linear interpolation.

Why not a library: the detectors need speech-band fidelity only, and this costs ~2 numpy calls per
frame; a sinc resampler (soxr) would add a dependency for no detection gain.
"""

from __future__ import annotations

import numpy as np

TARGET_RATE = 16000
#: browsers use 8-96 kHz; anything outside is a client error
MIN_RATE, MAX_RATE = 8000, 192000


class Resampler:
    def __init__(self, source_rate: int, target_rate: int = TARGET_RATE) -> None:
        if not MIN_RATE <= source_rate <= MAX_RATE:
            raise ValueError(f"sampleRate must be between {MIN_RATE} and {MAX_RATE}, got {source_rate}")
        self.source_rate = source_rate
        self.target_rate = target_rate
        self.step = source_rate / target_rate  # input samples per output sample
        self._width = max(1, int(round(self.step))) if self.step > 1.0 else 1
        self._tail = np.zeros(0, dtype=np.float32)  # input kept for the box filter and interpolation
        self._pos = 0.0  # read position of the next output sample, relative to _tail[0]

    @property
    def passthrough(self) -> bool:
        return self.source_rate == self.target_rate

    def process(self, samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32)
        if self.passthrough:
            return x
        buf = np.concatenate([self._tail, x]) if self._tail.size else x
        if self._width > 1:
            # moving average over `width` samples, aligned so filtered[i] covers buf[i-width+1..i]
            kernel = np.full(self._width, 1.0 / self._width, dtype=np.float32)
            filtered = np.convolve(buf, kernel, mode="full")[: buf.size]
        else:
            filtered = buf
        # output k reads filtered at position _pos + k*step; needs floor(pos)+1 < len
        last = filtered.size - 2
        if last < self._pos:
            self._keep(buf, filtered)
            return np.zeros(0, dtype=np.float32)
        count = int((last - self._pos) // self.step) + 1
        positions = self._pos + self.step * np.arange(count, dtype=np.float64)
        out = np.interp(positions, np.arange(filtered.size), filtered).astype(np.float32)
        self._pos += self.step * count
        self._keep(buf, filtered)
        return out

    def _keep(self, buf: np.ndarray, filtered: np.ndarray) -> None:
        # keep enough raw input for the next box filter window and the interpolation's left sample
        keep_from = max(0, min(int(self._pos) - 1, buf.size) - (self._width - 1))
        self._tail = buf[keep_from:].copy()
        self._pos -= keep_from
