"""The numpy/scipy signal generator behind the synthetic profiles (amr_data.md 5.2, zsl.md 5).

A frame is built in four steps, each vectorised over the ``n`` frames of a call:

1. modulate at ``sps`` samples per symbol and a nominal 200 kHz sample rate
   (:mod:`engine.data.modulation`): RRC-shaped linear modulations, CPM, or analog
   modulation of a synthetic speech source; every transmitted signal has unit nominal
   per-sample power by construction;
2. channel (:mod:`engine.data.channel`): random timing offset and sample-rate offset (one
   cubic interpolation), optional multipath fading redrawn per frame, random carrier phase
   and carrier frequency offset (CFO);
3. AWGN at the labelled SNR, under the profile's convention, with P_s = 1:

   * ``"per_sample"``: complex noise variance N = P_s / 10^(snr_db/10), so the
     per-sample SNR 10·log10(P_s/N) equals the label;
   * ``"esn0"``: N = P_s·sps / 10^(snr_db/10), the label is Es/N0 (MATLAB ``awgn``
     without 'measured' after a unit-energy RRC); the per-sample SNR is
     10·log10(sps) (9.03 dB at sps 8) below the label;
   * ``"rml2016"`` (opt-in): RML2016's noise amplitude 10^(-snr_db/10) per component;

4. per-frame normalisation: unit average power, or Σ|x| = 1 (``"l1"``, like RML2016).

:func:`synthesize_baseband` returns the clean (steps 1-2) and noisy (step 3) complex frames
of exactly the draw that :func:`synthesize_frames` normalises, so the SNR of a draw can be
measured. Everything is deterministic given the generator state (and ``n``, since frames
are drawn in chunks); nothing touches the global RNG. All choices are listed in
``docs/datasets.md``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.data.channel import (
    SNR_CONVENTIONS,
    add_awgn,
    apply_multipath,
    interpolate,
    multipath_span,
    multipath_taps,
    normalise_frames,
    rotate_carrier,
    sample_times,
    static_multipath_taps,
    timing_span,
)
from engine.data.modulation import (
    am_dsb,
    am_ssb,
    constellation,
    cpm_phase,
    fm_phase,
    frequency_pulse,
    pulse_shape,
    rrc_taps,
    speech_analytic,
    unit_phasor,
)

__all__ = [
    "CLASS_NAMES",
    "SignalConfig",
    "add_awgn",
    "normalise_frames",
    "synthesize_baseband",
    "synthesize_frames",
    "to_iq",
]

_PROFILES = ("rml2016a", "rml2018a", "sig2019", "sigzsl7")
# Frames are built in chunks of about this many samples (128 kB per complex64 array): such
# temporaries are reused by the allocator, while fresh multi-MB ones cost a page fault per
# 4 kB, which made up a third of the runtime when measured (docs/datasets.md, speed).
_CHUNK_SAMPLES = 16384


@dataclass(frozen=True)
class SignalConfig:
    """How frames are synthesised: pulse shape, channel, SNR convention, normalisation.

    Attributes:
        profile: the profile this config belongs to (``"custom"`` otherwise).
        sps: samples per symbol.
        rolloff: RRC roll-off.
        rrc_span_symbols: RRC length in symbols (taps = span·sps + 1).
        sample_rate_hz: nominal sample rate; scales CFO, FM deviation and the speech band.
        snr_convention: ``"per_sample"``, ``"esn0"`` or ``"rml2016"`` (module docstring).
        normalisation: ``"power"`` (unit average power per frame) or ``"l1"`` (Σ|x| = 1).
        carrier_phase: random carrier phase U(0, ``phase_spread_rad``) per frame.
        phase_spread_rad: width of that draw; 2π is a uniform phase, less models frames
            whose orientation drifts slowly around one channel's (``fading="static"``).
        cfo_max_hz: CFO drawn per frame from U(±cfo_max_hz).
        timing_offset: ``"fractional"`` U(0, sps) samples, ``"integer"`` {0..sps-1}, ``"none"``.
        sro_max_ppm: sample-rate offset drawn per frame from U(±sro_max_ppm) ppm.
        fading: ``"none"``, ``"rician"`` (first path Rician) or ``"rayleigh"``, redrawn per
            frame, or ``"static"``: one Rician channel drawn from ``channel_seed`` for every
            frame (RML2016's replayed GNU Radio channel).
        channel_seed: seed of the ``"static"`` channel (RML2016's ``noise_seed`` 0x1337).
        rician_k: K-factor of the first path for ``"rician"``.
        path_delays_samples: multipath delays in samples (fractional).
        path_gains: multipath amplitudes (normalised to unit mean channel energy).
        silence_fraction: probability that an analog frame carries silent audio.
        am_mod_index: AM modulation index μ drawn per frame from U(low, high).
        fm_deviation_hz: FM peak deviation for |m| = 1 (speech RMS is 0.25).
        am_ssb_carrier: the class ``AM-SSB`` keeps its carrier (``AM-SSB-WC``); without it,
            it is suppressed-carrier SSB (``AM-SSB-SC``).
        am_ssb_noise_only: reproduce RML2016's AM-SSB bug (transmit nothing); off by default.
    """

    profile: str = "custom"
    sps: int = 8
    rolloff: float = 0.35
    rrc_span_symbols: int = 8
    sample_rate_hz: float = 200e3
    snr_convention: str = "per_sample"
    normalisation: str = "power"
    carrier_phase: bool = True
    phase_spread_rad: float = 2 * math.pi
    cfo_max_hz: float = 0.0
    timing_offset: str = "fractional"
    sro_max_ppm: float = 0.0
    fading: str = "none"
    channel_seed: int = 0x1337
    rician_k: float = 4.0
    path_delays_samples: tuple[float, ...] = (0.0, 0.9, 1.7)
    path_gains: tuple[float, ...] = (1.0, 0.8, 0.3)
    silence_fraction: float = 0.25
    am_mod_index: tuple[float, float] = (0.5, 1.0)
    fm_deviation_hz: float = 75e3
    am_ssb_carrier: bool = True
    am_ssb_noise_only: bool = False

    def __post_init__(self) -> None:
        choices = {
            "snr_convention": SNR_CONVENTIONS,
            "normalisation": ("power", "l1"),
            "timing_offset": ("fractional", "integer", "none"),
            "fading": ("none", "rician", "rayleigh", "static"),
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"SignalConfig.{key} must be one of {allowed}")
        checks = {
            "sps": self.sps >= 2,
            "rolloff": 0 < self.rolloff <= 1,
            "rrc_span_symbols": self.rrc_span_symbols >= 1,
            "path_gains": len(self.path_gains) == len(self.path_delays_samples) >= 1,
            "path_delays_samples": min(self.path_delays_samples, default=0) >= 0,
            "silence_fraction": 0 <= self.silence_fraction <= 1,
            "am_mod_index": 0 <= self.am_mod_index[0] <= self.am_mod_index[1],
            "sample_rate_hz": self.sample_rate_hz >= 16e3,  # room for the 300-3400 Hz speech
            "cfo_max_hz": 0 <= self.cfo_max_hz < self.sample_rate_hz / 2,
            "sro_max_ppm": 0 <= self.sro_max_ppm < 1e4,
            "phase_spread_rad": 0 <= self.phase_spread_rad <= 2 * math.pi,
            "channel_seed": self.channel_seed >= 0,
        }
        for key, ok in checks.items():
            if not ok:
                raise ValueError(f"SignalConfig.{key} is out of range: {getattr(self, key)!r}")

    @classmethod
    def for_profile(cls, name: str) -> SignalConfig:
        """The signal settings of profile ``name`` (``docs/datasets.md`` has the reasons).

        Raises:
            ValueError: unknown profile name.
        """
        if name == "rml2016a":  # GNU Radio pipeline, amr_data.md 5.1 (issue 18 calibration)
            return cls(
                profile=name,
                rrc_span_symbols=11,
                normalisation="l1",
                # the replayed channel (amr_data.md 1.3 item 5): one seeded Rician channel,
                # no per-frame carrier phase, CFO and SRO random walks that drift ~1 Hz
                carrier_phase=False,
                cfo_max_hz=1.0,
                sro_max_ppm=5.0,
                fading="static",
                silence_fraction=0.6,
                fm_deviation_hz=37.5e3,  # wfm_tx's 75 kHz x the int16/65535 audio scale
                am_ssb_carrier=False,  # the real AM-SSB carries no carrier (nor anything)
            )
        if name == "rml2018a":  # O'Shea 2018 Table I impairments, amr_data.md 2.3, 5.2
            # per-frame Rician multipath and carrier phase; CFO and SRO as GNU Radio's
            # dynamic_channel_model random walks (amr_data.md 1.3 item 5), which drift ~1 Hz:
            # drawn at their maxima (±500 Hz, version 2) the carrier turned 2.6 times per
            # 1024-sample frame and wiped out the PSK orders (issue 18, docs/datasets.md)
            return cls(profile=name, cfo_max_hz=1.0, sro_max_ppm=5.0, fading="rician")
        if name == "sig2019":  # ASSUMED: no public spec (amr_data.md 3)
            return cls(profile=name, cfo_max_hz=100.0, sro_max_ppm=50.0)
        if name == "sigzsl7":  # MATLAB-style, zsl.md 5: AWGN + random phase + small CFO
            return cls(
                profile=name,
                rrc_span_symbols=4,
                snr_convention="esn0",
                cfo_max_hz=50.0,
                timing_offset="integer",
            )
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(_PROFILES)}")


@dataclass(frozen=True)
class _Modulator:
    family: str  # "linear" | "offset" | "cpm" | "analog"
    kind: str = ""  # constellation name, or analog kind
    order: int = 2  # CPM alphabet size
    index: float = 0.5  # CPM modulation index h
    bt: float | None = None  # Gaussian BT of the CPM frequency pulse (None = rectangular)


def _linear(kind: str) -> _Modulator:
    return _Modulator("linear", kind)


def _analog(kind: str) -> _Modulator:
    return _Modulator("analog", kind)


# Class name -> modulator; aliases share one entry ("QAM16" is "16QAM").
_MODULATORS: dict[str, _Modulator] = {
    "BPSK": _linear("bpsk"),
    "QPSK": _linear("qpsk"),
    "8PSK": _linear("8psk"),
    "16PSK": _linear("16psk"),
    "32PSK": _linear("32psk"),
    "16APSK": _linear("16apsk"),
    "32APSK": _linear("32apsk"),
    "64APSK": _linear("64apsk"),
    "128APSK": _linear("128apsk"),
    "16QAM": _linear("16qam"),
    "QAM16": _linear("16qam"),
    "32QAM": _linear("32qam"),
    "64QAM": _linear("64qam"),
    "QAM64": _linear("64qam"),
    "128QAM": _linear("128qam"),
    "256QAM": _linear("256qam"),
    "OOK": _linear("2ask"),
    "2ASK": _linear("2ask"),
    "4ASK": _linear("4ask"),
    "8ASK": _linear("8ask"),
    "PAM4": _linear("4pam"),
    "4PAM": _linear("4pam"),
    "8PAM": _linear("8pam"),
    "OQPSK": _Modulator("offset", "qpsk"),
    "CPFSK": _Modulator("cpm", order=2, index=0.5),
    # RML2016 gfsk_mod: sensitivity 0.1 rad/sample at 8 sps -> h = 0.8/π ≈ 0.25, BT 0.35
    "GFSK": _Modulator("cpm", order=2, index=0.8 / math.pi, bt=0.35),
    "GMSK": _Modulator("cpm", order=2, index=0.5, bt=0.3),
    "2FSK": _Modulator("cpm", order=2, index=1.0),
    "4FSK": _Modulator("cpm", order=4, index=1.0),
    "8FSK": _Modulator("cpm", order=8, index=1.0),
    "AM-DSB": _analog("dsb_wc"),
    "AM-DSB-WC": _analog("dsb_wc"),
    "AM-DSB-SC": _analog("dsb_sc"),
    "AM-SSB": _analog("ssb_wc"),
    "AM-SSB-WC": _analog("ssb_wc"),
    "AM-SSB-SC": _analog("ssb_sc"),
    "FM": _analog("fm"),
    "WBFM": _analog("fm"),
}

CLASS_NAMES: tuple[str, ...] = tuple(sorted(_MODULATORS))
"""Every class name :func:`synthesize_frames` accepts."""


@functools.lru_cache(maxsize=64)
def _symbol_table(kind: str) -> np.ndarray:
    points = constellation(kind).astype(np.complex64)
    points.flags.writeable = False
    return points


@functools.lru_cache(maxsize=16)
def _shaping_taps(rolloff: float, span_symbols: int, sps: int) -> np.ndarray:
    """RRC taps scaled by √sps: unit-power symbols give unit power per sample."""
    taps = rrc_taps(rolloff, span_symbols, sps) * math.sqrt(sps)
    taps.flags.writeable = False
    return taps


@functools.lru_cache(maxsize=16)
def _cpm_pulse(sps: int, bt: float | None) -> np.ndarray:
    pulse = frequency_pulse(sps, bt)
    pulse.flags.writeable = False
    return pulse


def _modulate(
    config: SignalConfig, spec: _Modulator, n: int, n_samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """The transmitted signal, ``[n, n_samples]``, and whether it is a phase (exp(jφ))."""
    sps = config.sps
    if spec.family in ("linear", "offset"):
        taps = _shaping_taps(config.rolloff, config.rrc_span_symbols, sps)
        delay = sps // 2 if spec.family == "offset" else 0
        n_sym = -(-(n_samples + delay) // sps) + -(-len(taps) // sps) - 1
        points = _symbol_table(spec.kind)
        symbols = points[rng.integers(0, len(points), (n, n_sym), dtype=np.int16)]
        shaped = pulse_shape(symbols, taps, sps, n_samples + delay)
        if delay:  # OQPSK: Q lags I by half a symbol
            shaped = shaped[:, delay:].real + 1j * shaped[:, :n_samples].imag
        return shaped.astype(np.complex64, copy=False), False
    if spec.family == "cpm":
        pulse = _cpm_pulse(sps, spec.bt)
        n_sym = -(-n_samples // sps) + -(-len(pulse) // sps) - 1
        levels = 2 * rng.integers(0, spec.order, (n, n_sym), dtype=np.int16) - (spec.order - 1)
        return cpm_phase(levels, spec.index, pulse, sps, n_samples), True
    speech = speech_analytic(n, n_samples, config.sample_rate_hz, config.silence_fraction, rng)
    mod_index = rng.uniform(*config.am_mod_index, (n, 1))
    lower_sideband = rng.random((n, 1)) < 0.5
    if spec.kind == "fm":
        return fm_phase(speech.real, config.fm_deviation_hz, config.sample_rate_hz), True
    if spec.kind.startswith("ssb") and config.am_ssb_noise_only:
        return np.zeros((n, n_samples), np.complex64), False
    if spec.kind.startswith("dsb"):
        return am_dsb(speech.real, mod_index if spec.kind == "dsb_wc" else None), False
    return am_ssb(speech, lower_sideband, mod_index if spec.kind == "ssb_wc" else None), False


def _modulator(class_name: str) -> _Modulator:
    try:
        return _MODULATORS[class_name]
    except KeyError:
        raise ValueError(f"unknown class {class_name!r}; known: {', '.join(CLASS_NAMES)}") from None


def _clean_chunk(
    config: SignalConfig, spec: _Modulator, n: int, length: int, rng: np.random.Generator
) -> np.ndarray:
    """Steps 1-2 (module docstring) for ``n`` frames: ``[n, length]`` complex64."""
    n_taps = 1 if config.fading == "none" else multipath_span(config.path_delays_samples)
    n_channel = length + n_taps - 1
    offset_max = 0.0 if config.timing_offset == "none" else float(config.sps)
    n_samples = timing_span(n_channel, offset_max, config.sro_max_ppm)
    transmitted, is_phase = _modulate(config, spec, n, n_samples, rng)
    times = sample_times(
        n,
        n_channel,
        offset_max,
        config.sro_max_ppm,
        rng,
        integer_offset=config.timing_offset == "integer",
    )
    received = interpolate(transmitted, times)
    if is_phase:  # CPM and FM: interpolate the smooth phase, then exp (exact envelope)
        received = unit_phasor(received)
    if config.fading != "none":
        received = apply_multipath(received, _channel_taps(config, n, rng))
    cfo_max = config.cfo_max_hz / config.sample_rate_hz
    return rotate_carrier(received, cfo_max, config.carrier_phase, rng, config.phase_spread_rad)


def _channel_taps(config: SignalConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    delays, gains = config.path_delays_samples, config.path_gains
    if config.fading == "static":
        return static_multipath_taps(n, delays, gains, config.rician_k, config.channel_seed)
    return multipath_taps(n, delays, gains, config.fading, config.rician_k, rng)


def _chunks(
    config: SignalConfig,
    class_name: str,
    snr_db: float,
    n: int,
    length: int,
    rng: np.random.Generator,
) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """(rows, clean, noisy) per chunk; clean and noise are drawn chunk by chunk."""
    spec = _modulator(class_name)
    if class_name == "AM-SSB" and not config.am_ssb_carrier:
        spec = _MODULATORS["AM-SSB-SC"]
    if n < 0 or length < 1:
        raise ValueError(f"need n >= 0 and length >= 1, got n={n}, length={length}")
    step = max(1, _CHUNK_SAMPLES // length)
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        clean = _clean_chunk(config, spec, rows.stop - start, length, rng)
        noisy = add_awgn(clean, snr_db, rng, config.snr_convention, config.sps)
        yield rows, clean, noisy


def synthesize_baseband(
    config: SignalConfig,
    class_name: str,
    snr_db: float,
    n: int,
    length: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The complex frames behind :func:`synthesize_frames`, before normalisation.

    For the same generator state, ``synthesize_frames(...)`` equals
    ``to_iq(normalise_frames(noisy, config.normalisation))``, and ``noisy - clean`` is the
    noise that was added, so the SNR of a draw can be measured.

    Args:
        config: signal settings.
        class_name: one of :data:`CLASS_NAMES`.
        snr_db: SNR label under ``config.snr_convention``.
        n: number of frames.
        length: samples per frame ``L``.
        rng: the only source of randomness.

    Returns:
        ``(clean, noisy)``, each ``[n, length]`` complex64. ``clean`` has unit nominal power
        per sample (fading keeps it 1 on average over frames; silent frames of
        suppressed-carrier analog classes carry almost nothing).

    Raises:
        ValueError: unknown class, or ``n < 0`` / ``length < 1``.
    """
    clean = np.empty((n, length), np.complex64)
    noisy = np.empty((n, length), np.complex64)
    for rows, clean_part, noisy_part in _chunks(config, class_name, snr_db, n, length, rng):
        clean[rows], noisy[rows] = clean_part, noisy_part
    return clean, noisy


def to_iq(x: np.ndarray) -> np.ndarray:
    """Complex frames ``[n, L]`` as float32 ``[n, 2, L]`` with rows I and Q."""
    return np.stack([x.real, x.imag], axis=1).astype(np.float32, copy=False)


def synthesize_frames(
    config: SignalConfig,
    class_name: str,
    snr_db: float,
    n: int,
    length: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` labelled frames of one class at one SNR.

    Args:
        config: signal settings (e.g. ``SignalConfig.for_profile("rml2018a")``).
        class_name: one of :data:`CLASS_NAMES` (e.g. ``"QAM16"`` or ``"16QAM"``).
        snr_db: SNR label, under ``config.snr_convention`` (module docstring).
        n: number of frames.
        length: samples per frame ``L``.
        rng: the only source of randomness (deterministic given its state).

    Returns:
        ``[n, 2, length]`` float32, rows I and Q, normalised per ``config.normalisation``.

    Raises:
        ValueError: unknown class, or ``n < 0`` / ``length < 1``.
    """
    out = np.empty((n, 2, length), np.float32)
    for rows, _, noisy in _chunks(config, class_name, snr_db, n, length, rng):
        out[rows] = to_iq(normalise_frames(noisy, config.normalisation))
    return out
