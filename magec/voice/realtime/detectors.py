"""Wake word and voice-activity detection on 16 kHz audio, offline, with models shipped on PyPI.

* :class:`WakeWordDetector` runs one microWakeWord model (``pymicro-wakeword``: TFLite models for
  "hey mycroft", "okay nabu", "alexa", "hey jarvis" inside the wheel, ~0.4 % of a core per stream)
  on int16 audio in 10 ms feature steps. A detection resets the model and starts a refractory
  period (:data:`REFRACTORY_SECONDS`) so one utterance fires once.
* :class:`SpeechDetector` runs microVAD (``pymicro-vad``, ~1.5 % of a core per stream) on every
  10 ms frame (it needs the frames before speech to warm up: skipping quiet frames made it ~0.6 s
  late), and counts frames quieter than :data:`ENERGY_FLOOR` as silence whatever it says (a
  whisper-quiet hum is not speech). ``speech_start`` needs :data:`START_FRAMES` consecutive speech
  frames (debounce); ``speech_end`` follows ``silence_timeout_ms`` of non-speech frames. Time is
  counted in audio samples, not wall-clock time, so results do not depend on how fast frames arrive.

Both take float32 samples in [-1, 1] at 16 kHz and return the events they produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

RATE = 16000
FRAME = 160  # 10 ms at 16 kHz: the step of both models
#: frames quieter than this RMS (int16 scale, about -60 dBFS) are silence without running the model
ENERGY_FLOOR = 30.0
#: consecutive speech frames (10 ms each) before speech_start
START_FRAMES = 3
#: after a detection, the same model cannot fire again for this long
REFRACTORY_SECONDS = 1.5


@dataclass(frozen=True)
class WakeWordModel:
    id: str
    name: str
    phrase: str
    config_path: Path
    cutoff: float

    def info(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "phrase": self.phrase}


@cache
def available_models() -> dict[str, WakeWordModel]:
    """The wake word models shipped in the ``pymicro_wakeword`` package, by id."""
    import pymicro_wakeword

    models_dir = Path(pymicro_wakeword.__file__).parent / "models"
    found: dict[str, WakeWordModel] = {}
    for path in sorted(models_dir.glob("*.json")):
        meta = json.loads(path.read_text())
        phrase = str(meta.get("wake_word") or path.stem.replace("_", " "))
        cutoff = float((meta.get("micro") or {}).get("probability_cutoff", 0.9))
        found[path.stem] = WakeWordModel(path.stem, phrase, phrase, path, cutoff)
    return found


def to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


class WakeWordDetector:
    def __init__(self, model: WakeWordModel, threshold: float = 0.0) -> None:
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures

        self.model = model
        self.threshold = threshold or model.cutoff
        self._net: Any = MicroWakeWord.from_config(model.config_path)
        self._features: Any = MicroWakeWordFeatures()
        self._quiet = 0  # samples left in the refractory period
        self.peak = 0.0  # highest probability seen (reported in tests and debug logs)

    def process(self, pcm16: np.ndarray) -> bool:
        """Feed int16 samples; True when the wake word ended in them."""
        fired = False
        for features in self._features.process_streaming(pcm16.tobytes()):
            prob = self._net.process_streaming_prob(features)
            if prob is None:
                continue
            self.peak = max(self.peak, prob)
            if self._quiet <= 0 and prob > self.threshold:
                fired = True
                self._net.reset()  # forget the phrase so it cannot fire again from its tail
                self._quiet = int(REFRACTORY_SECONDS * RATE)
        self._quiet -= pcm16.size
        return fired

    def close(self) -> None:
        self._net.close()


class SpeechDetector:
    def __init__(self, threshold: float = 0.5, silence_timeout_ms: int = 2000) -> None:
        from pymicro_vad import MicroVad

        self._vad: Any = MicroVad()
        self.threshold = threshold
        self.silence_frames = max(1, silence_timeout_ms // 10)
        self.speaking = False
        self._run = 0  # consecutive speech frames while not speaking
        self._silent = 0  # consecutive non-speech frames while speaking
        self._pending = np.zeros(0, dtype=np.int16)
        self.frames = 0  # 10 ms frames seen (the stream's clock)

    def process(self, pcm16: np.ndarray) -> list[tuple[str, float]]:
        """Feed int16 samples; ``[("speech_start"|"speech_end", at_seconds), ...]``."""
        events: list[tuple[str, float]] = []
        buf = np.concatenate([self._pending, pcm16]) if self._pending.size else pcm16
        whole = buf.size - buf.size % FRAME
        for start in range(0, whole, FRAME):
            frame = buf[start : start + FRAME]
            self.frames += 1
            prob = self._vad.process_10ms(frame.tobytes())
            speech = prob > self.threshold and float(np.sqrt(np.mean(frame.astype(np.float32) ** 2))) >= ENERGY_FLOOR
            if not self.speaking:
                self._run = self._run + 1 if speech else 0
                if self._run >= START_FRAMES:
                    self.speaking, self._silent = True, 0
                    events.append(("speech_start", (self.frames - START_FRAMES) / 100))
            else:
                self._silent = 0 if speech else self._silent + 1
                if self._silent >= self.silence_frames:
                    self.speaking, self._run = False, 0
                    events.append(("speech_end", (self.frames - self._silent) / 100))
        self._pending = buf[whole:].copy()
        return events
