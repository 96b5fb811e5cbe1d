"""Pure channel maths for the synthetic generator: timing, multipath, carrier offset, AWGN.

All functions act on a batch of complex baseband frames ``x`` of shape ``[n, T]`` and draw
from an explicit ``np.random.Generator``. Frequencies are normalised (cycles per sample);
the caller converts from Hz. Order used by :func:`engine.data.synth.synthesize_frames`:
timing offset and sample-rate offset -> multipath -> carrier phase and CFO -> AWGN ->
per-frame normalisation (amr_data.md 5.1 channel, 5.2 realistic mode).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SNR_CONVENTIONS",
    "add_awgn",
    "apply_multipath",
    "interpolate",
    "multipath_span",
    "multipath_taps",
    "noise_variance",
    "normalise_frames",
    "rotate_carrier",
    "sample_times",
    "static_multipath_taps",
    "timing_span",
]

SNR_CONVENTIONS = ("per_sample", "esn0", "rml2016")
_SINC_HALF_WIDTH = 4  # multipath taps: Hann-windowed sinc over ±4 samples (band < 0.1 cyc/sample)


def timing_span(length: int, offset_max: float, sro_max_ppm: float) -> int:
    """Input samples that :func:`sample_times` may read for ``length`` output samples."""
    return math.ceil(offset_max + (length - 1) * (1 + sro_max_ppm * 1e-6)) + 4


def sample_times(
    n: int,
    length: int,
    offset_max: float,
    sro_max_ppm: float,
    rng: np.random.Generator,
    integer_offset: bool = False,
) -> np.ndarray:
    """Where each received sample reads the transmitted waveform: t_k = 1 + τ + k·(1 + ε).

    τ ~ U(0, ``offset_max``) is the timing offset (a whole number of samples if
    ``integer_offset``, like MATLAB's ``randi`` start, zsl.md 5), ε ~ U(±``sro_max_ppm``)·1e-6
    the sample-rate offset. The leading 1 leaves room for the cubic interpolator.

    Returns:
        ``[n, length]`` float64 positions in input samples, all in
        ``[1, timing_span(length, offset_max, sro_max_ppm) - 3]``.
    """
    if integer_offset:
        offset = rng.integers(0, max(1, math.ceil(offset_max)), (n, 1)).astype(float)
    else:
        offset = rng.uniform(0, offset_max, (n, 1))
    rate = 1 + rng.uniform(-sro_max_ppm, sro_max_ppm, (n, 1)) * 1e-6
    return 1 + offset + np.arange(length) * rate


def interpolate(x: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Read ``x`` at fractional ``times`` with 4-point cubic Lagrange interpolation.

    At 8x oversampling the error is about -66 dB for RRC-shaped symbols. CPM and FM are
    interpolated on their (smooth) phase instead: the envelope stays exactly constant and
    the phase accurate even for wideband 8FSK or FM.

    Args:
        x: ``[n, T]`` real or complex.
        times: ``[n, L]`` positions with ``1 <= times <= T - 3``.

    Returns:
        ``[n, L]``, the dtype of ``x`` (float32 weights).
    """
    base = np.floor(times)
    frac = (times - base).astype(np.float32)
    flat = base.astype(np.int64)
    flat += (np.arange(len(x)) * x.shape[1])[:, None]
    source = x.reshape(-1)
    if not frac.any():
        return source[flat]
    # Lagrange weights for the points at -1, 0, 1, 2 (products shared between weights)
    minus, plus = frac - 1, frac + 1
    left, right = frac * minus, plus * (frac - 2)
    weights = (
        left * (frac - 2) * np.float32(-1 / 6),
        right * minus * np.float32(1 / 2),
        right * frac * np.float32(-1 / 2),
        left * plus * np.float32(1 / 6),
    )
    out = source[flat - 1] * weights[0]
    for shift in (0, 1, 2):
        out += source[flat + shift] * weights[shift + 1]
    return out


@functools.lru_cache(maxsize=16)
def _path_shapes(
    delays_samples: tuple[float, ...], gains: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Windowed-sinc tap shapes ``[P, F]`` and path powers ``[P]`` scaled to unit energy."""
    delays = np.asarray(delays_samples, float)
    width = _SINC_HALF_WIDTH
    lags = np.arange(math.floor(delays.min()) - width + 1, math.ceil(delays.max()) + width)
    offset = lags[None, :] - delays[:, None]  # [P, F]
    hann = np.where(np.abs(offset) < width, 0.5 + 0.5 * np.cos(np.pi * offset / width), 0.0)
    shapes = np.sinc(offset) * hann
    power = np.asarray(gains, float) ** 2
    power /= np.sum(power * np.sum(shapes**2, axis=1))
    shapes.flags.writeable = power.flags.writeable = False
    return shapes, power


def multipath_span(delays_samples: Sequence[float]) -> int:
    """Number of taps F that :func:`multipath_taps` returns for these delays."""
    return _path_shapes(tuple(delays_samples), (1.0,) * len(delays_samples))[0].shape[1]


def multipath_taps(
    n: int,
    delays_samples: Sequence[float],
    gains: Sequence[float],
    model: str,
    rician_k: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per-frame tapped-delay-line channels with unit mean energy (block fading).

    Each path p has amplitude ``gains[p]`` and a fractional delay, realised as a
    Hann-windowed sinc (GNU Radio ``selective_fading_model`` style, amr_data.md 5.1). Path
    gains are complex Gaussian (``"rayleigh"``), or the first path is Rician with K-factor
    ``rician_k`` and the rest Rayleigh (``"rician"``). Redrawn per frame; Doppler within one
    frame is ignored. Scaled so that E[Σ|h_k|²] = 1 exactly.

    Returns:
        ``[n, F]`` complex64 taps, tap j at delay ``j + floor(min delay) - 3`` samples
        (F = 9 for the default delays [0, 0.9, 1.7]).
    """
    shapes, power = _path_shapes(tuple(delays_samples), tuple(gains))
    n_paths = len(power)
    path = (rng.standard_normal((n, n_paths, 2)) / np.sqrt(2)).view(complex)[..., 0]
    if model == "rician":
        los_phase = rng.uniform(0, 2 * np.pi, n)
        path[:, 0] = np.sqrt(rician_k / (rician_k + 1)) * np.exp(1j * los_phase) + path[
            :, 0
        ] * np.sqrt(1 / (rician_k + 1))
    elif model != "rayleigh":
        raise ValueError(f"fading model must be 'rician' or 'rayleigh', got {model!r}")
    return ((path * np.sqrt(power)) @ shapes).astype(np.complex64)


def static_multipath_taps(
    n: int,
    delays_samples: Sequence[float],
    gains: Sequence[float],
    rician_k: float,
    seed: int,
) -> np.ndarray:
    """One Rician channel drawn from ``seed``, the same for all ``n`` frames.

    The replayed channel of RML2016 (amr_data.md 1.3 item 5): GNU Radio's
    ``dynamic_channel_model`` is rebuilt with ``noise_seed`` 0x1337 for every run, and its
    fading (fD = 1 Hz) barely moves over a run, so every frame sees (nearly) one channel.
    The draw uses numpy's generator, so it is *a* fixed channel, not GNU Radio's. It is
    scaled to unit gain at 0 Hz, |Σ h_k| = 1, so the SNR label holds for every frame: the
    gain of seed 0x1337 tilts by ±1.6 dB across an RRC 0.35 band at 8 sps, and the received
    power of every rml2016a class is within 0.1 dB of the transmitted one (measured).

    Returns:
        ``[n, F]`` complex64 taps (as :func:`multipath_taps`), all rows equal.
    """
    rng = np.random.default_rng(seed)
    taps = multipath_taps(1, delays_samples, gains, "rician", rician_k, rng)
    taps /= np.abs(np.sum(taps))
    return np.repeat(taps, n, axis=0)


def apply_multipath(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Filter each frame with its own taps ('valid' part only).

    Args:
        x: ``[n, T]`` complex.
        taps: ``[n, F]`` from :func:`multipath_taps`.

    Returns:
        ``[n, T - F + 1]``: out[k] = Σ_j taps[j]·x[k + F - 1 - j].
    """
    n_taps = taps.shape[1]
    length = x.shape[1] - n_taps + 1
    out = taps[:, :1] * x[:, n_taps - 1 : n_taps - 1 + length]
    for j in range(1, n_taps):
        out += taps[:, j : j + 1] * x[:, n_taps - 1 - j : n_taps - 1 - j + length]
    return out


def _phasor(freq: np.ndarray, phase: np.ndarray, length: int) -> np.ndarray:
    """exp(j(2π·f·k + θ)) for k < length, ``[n, length]`` complex64, as an outer product of
    a coarse and a fine phasor (one multiply per sample instead of one complex exp)."""
    block = 32
    coarse_k = np.arange(-(-length // block)) * block
    fine = np.exp(2j * np.pi * freq[:, None] * np.arange(block)).astype(np.complex64)
    coarse = np.exp(1j * (2 * np.pi * freq[:, None] * coarse_k + phase[:, None]))
    out = coarse.astype(np.complex64)[:, :, None] * fine[:, None, :]
    return out.reshape(len(freq), -1)[:, :length]


def rotate_carrier(
    x: np.ndarray,
    cfo_max: float,
    random_phase: bool,
    rng: np.random.Generator,
    phase_spread: float = 2 * np.pi,
) -> np.ndarray:
    """Multiply by exp(j(2π·f·k + θ)), f ~ U(±``cfo_max``) cycles/sample, θ ~ U(0, spread).

    ``phase_spread`` < 2π models frames whose orientation drifts only a little (a replayed
    channel); the draw is made either way, so the stream of the other draws does not depend
    on it.

    Returns:
        ``[n, T]`` complex64; ``x`` itself when there is nothing to do.
    """
    n, length = x.shape
    freq = rng.uniform(-cfo_max, cfo_max, n) if cfo_max > 0 else np.zeros(n)
    phase = rng.uniform(0, phase_spread, n) if random_phase else np.zeros(n)
    if cfo_max <= 0 and not random_phase:
        return x
    return x * _phasor(freq, phase, length)


def noise_variance(
    snr_db: float, convention: str = "per_sample", sps: int = 8, signal_power: float = 1.0
) -> float:
    """Complex noise variance N = E|w|² for an SNR label.

    * ``"per_sample"``: N = P_s / 10^(snr/10), P_s the nominal per-sample signal power;
    * ``"esn0"``: N = P_s·sps / 10^(snr/10), i.e. the label is Es/N0 (MATLAB ``awgn``
      without 'measured' after a unit-energy RRC; per-sample SNR is 10·log10(sps) lower);
    * ``"rml2016"``: N = 2·10^(-snr/5), RML2016's noise_amp = 10^(-snr/10) per component
      (amr_data.md 1.3 item 2; opt-in, not a true SNR).

    Raises:
        ValueError: unknown convention.
    """
    if convention == "per_sample":
        return signal_power / 10 ** (snr_db / 10)
    if convention == "esn0":
        return signal_power * sps / 10 ** (snr_db / 10)
    if convention == "rml2016":
        return 2 * 10 ** (-snr_db / 5)
    raise ValueError(f"snr_convention must be one of {SNR_CONVENTIONS}, got {convention!r}")


def add_awgn(
    x: np.ndarray,
    snr_db: float,
    rng: np.random.Generator,
    convention: str = "per_sample",
    sps: int = 8,
    signal_power: float = 1.0,
) -> np.ndarray:
    """``x`` plus circular complex white Gaussian noise of variance :func:`noise_variance`.

    Args:
        x: ``[n, T]`` complex, nominal per-sample power ``signal_power``.
        snr_db: the SNR label.
        rng: source of the noise (float32 draws).
        convention: ``"per_sample"``, ``"esn0"`` or ``"rml2016"``.
        sps: samples per symbol (used by ``"esn0"``).
        signal_power: nominal P_s (1 for everything :mod:`engine.data.synth` builds).

    Returns:
        ``[n, T]`` complex64.
    """
    std = np.float32(np.sqrt(noise_variance(snr_db, convention, sps, signal_power) / 2))
    noise = rng.standard_normal((*x.shape, 2), dtype=np.float32).view(np.complex64)[..., 0]
    noise *= std
    noise += x
    return noise


def normalise_frames(x: np.ndarray, method: str) -> np.ndarray:
    """Scale each frame to unit average power (``"power"``) or to Σ|x| = 1 (``"l1"``, RML2016).

    Returns:
        ``[n, T]``, same dtype as ``x``.

    Raises:
        ValueError: unknown method.
    """
    if method == "power":
        parts = np.ascontiguousarray(x).view(x.real.dtype)  # [n, 2T]: I and Q interleaved
        scale = np.sqrt(np.einsum("ij,ij->i", parts, parts) / x.shape[1])[:, None]
    elif method == "l1":
        scale = np.sum(np.abs(x), axis=1, keepdims=True)
    else:
        raise ValueError(f"normalisation must be 'power' or 'l1', got {method!r}")
    return x / np.maximum(scale, np.finfo(np.float32).tiny)
