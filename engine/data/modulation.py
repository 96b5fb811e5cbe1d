"""Pure signal maths for the synthetic generator: constellations, pulses, modulators, speech.

Everything here works on a batch of ``n`` frames at once (arrays ``[n, ...]``), draws random
numbers only from an explicit ``np.random.Generator``, and returns complex baseband at the
nominal sample rate (200 kHz, ``sps`` samples per symbol). Recipes follow
``reference/amr_data.md`` 5.1-5.2 and ``reference/zsl.md`` 5; every choice is listed in
``docs/datasets.md``.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

__all__ = [
    "SPEECH_RMS",
    "am_dsb",
    "am_ssb",
    "apsk_points",
    "ask_points",
    "constellation",
    "cpm_phase",
    "fm_phase",
    "frequency_pulse",
    "pam_points",
    "psk_points",
    "pulse_shape",
    "qam_points",
    "rrc_taps",
    "speech_analytic",
    "unit_phasor",
]

SPEECH_RMS = 0.25
"""RMS of the speech source m(t) during active speech (peaks reach about 2)."""

AUDIO_RATE_HZ = 8000.0  # the speech source is built near telephone rate, then interpolated
_BACKGROUND_LEVEL = 0.01  # -40 dB room noise in silent frames (real audio is never all zero)

# APSK ring layouts: (points per ring, radius, phase of the first point). amr_data.md 5.2.
# 16/32APSK: DVB-S2 4+12 (ratio 2.85, code rate 3/4) and 4+12+16 (2.64, 4.64, rate 5/6).
# 64/128APSK: DVB-S2X-like layouts; DeepSig's real radii are unknown (assumption).
_APSK_RINGS: dict[int, tuple[tuple[int, float, float], ...]] = {
    16: ((4, 1.0, math.pi / 4), (12, 2.85, math.pi / 12)),
    32: ((4, 1.0, math.pi / 4), (12, 2.64, math.pi / 12), (16, 4.64, 0.0)),
    64: ((8, 1.0, math.pi / 8), (16, 2.2, math.pi / 16), (20, 3.6, 0.0), (20, 5.2, math.pi / 20)),
    128: (
        (16, 1.0, math.pi / 16),
        (16, 1.715, 0.0),
        (16, 2.118, math.pi / 16),
        (16, 2.681, 0.0),
        (16, 2.75, math.pi / 16),
        (48, 3.75, math.pi / 48),
    ),
}


def _unit_power(points: np.ndarray) -> np.ndarray:
    return points / np.sqrt(np.mean(np.abs(points) ** 2))


def psk_points(order: int, phase_rad: float = 0.0) -> np.ndarray:
    """M-PSK points exp(j(2πk/M + phase)), unit power. Shape ``[M]``, complex."""
    return np.exp(1j * (2 * np.pi * np.arange(order) / order + phase_rad))


def qam_points(order: int) -> np.ndarray:
    """Square QAM (M = 4^k) or cross QAM (M = 2·4^k: 32, 128), unit power. Shape ``[M]``.

    Cross constellations take the next square grid of odd levels and drop equal corner
    blocks: 32QAM = 6x6 minus the 4 corners, 128QAM = 12x12 minus 2x2 per corner.
    """
    side = math.isqrt(order)
    if side * side == order:
        corner = 0
    else:
        side = 3 * 2 ** ((order.bit_length() - 1 - 5) // 2 + 1)  # 6 for 32, 12 for 128
        corner = math.isqrt((side * side - order) // 4)
    levels = np.arange(-side + 1, side, 2, dtype=float)
    i, q = np.meshgrid(levels, levels)
    edge = side - 1 - 2 * corner
    keep = ~((np.abs(i) > edge) & (np.abs(q) > edge)) if corner else np.ones_like(i, bool)
    points = (i + 1j * q)[keep]
    if points.size != order:
        raise ValueError(f"no square or cross QAM with {order} points")
    return _unit_power(points)


def ask_points(order: int) -> np.ndarray:
    """Unipolar ASK/OOK levels {0, 1, ..., M-1}, unit power (zsl.md 5: keeps 2ASK != BPSK)."""
    return _unit_power(np.arange(order, dtype=complex))


def pam_points(order: int) -> np.ndarray:
    """Bipolar real PAM levels {±1, ±3, ...}, unit power."""
    return _unit_power(np.arange(-order + 1, order, 2, dtype=complex))


def apsk_points(order: int) -> np.ndarray:
    """Concentric-ring APSK (16, 32, 64, 128), unit power; layouts in ``_APSK_RINGS``."""
    rings = [
        radius * np.exp(1j * (phase + 2 * np.pi * np.arange(count) / count))
        for count, radius, phase in _APSK_RINGS[order]
    ]
    return _unit_power(np.concatenate(rings))


def constellation(name: str) -> np.ndarray:
    """Unit-average-power symbol alphabet called e.g. ``"qpsk"``, ``"32qam"``, ``"4ask"``.

    Names: ``bpsk``, ``qpsk`` (π/4-rotated), ``{8,16,32}psk``, ``{16,32,64,128,256}qam``,
    ``{16,32,64,128}apsk``, ``{2,4,8}ask`` (unipolar), ``{4,8}pam`` (bipolar, real).

    Returns:
        ``[M]`` complex128, mean |s|² = 1.

    Raises:
        ValueError: unknown name.
    """
    if name == "bpsk":
        return psk_points(2)
    if name == "qpsk":
        return psk_points(4, np.pi / 4)
    families = {"psk": psk_points, "qam": qam_points, "apsk": apsk_points}
    families |= {"ask": ask_points, "pam": pam_points}
    match = re.fullmatch(r"(\d+)([a-z]+)", name)
    if match is None or match[2] not in families:
        raise ValueError(f"unknown constellation {name!r}")
    return families[match[2]](int(match[1]))


def rrc_taps(rolloff: float, span_symbols: int, sps: int) -> np.ndarray:
    """Root-raised-cosine FIR, ``span_symbols * sps + 1`` taps, unit energy (MATLAB rcosdesign).

    Returns:
        ``[span_symbols * sps + 1]`` float64 with sum(h²) = 1.
    """
    t = np.arange(-span_symbols * sps / 2, span_symbols * sps / 2 + 1) / sps  # in symbols
    beta = rolloff
    with np.errstate(divide="ignore", invalid="ignore"):
        taps = (np.sin(np.pi * t * (1 - beta)) + 4 * beta * t * np.cos(np.pi * t * (1 + beta))) / (
            np.pi * t * (1 - (4 * beta * t) ** 2)
        )
    taps[t == 0] = 1 - beta + 4 * beta / np.pi
    if beta > 0:
        edge = np.isclose(np.abs(t), 1 / (4 * beta))
        taps[edge] = (beta / np.sqrt(2)) * (
            (1 + 2 / np.pi) * np.sin(np.pi / (4 * beta))
            + (1 - 2 / np.pi) * np.cos(np.pi / (4 * beta))
        )
    return taps / np.sqrt(np.sum(taps**2))


def frequency_pulse(sps: int, bt: float | None = None, span_symbols: int = 4) -> np.ndarray:
    """CPM frequency pulse: rectangular (``bt=None``) or Gaussian-filtered NRZ with BT ``bt``.

    Returns:
        float64 taps summing to ``sps``, so one symbol of level a turns the phase by π·h·a.
    """
    rect = np.ones(sps)
    if bt is None:
        return rect
    sigma = np.sqrt(np.log(2)) / (2 * np.pi * bt) * sps  # Gaussian std in samples
    t = np.arange(-span_symbols * sps / 2, span_symbols * sps / 2 + 1)
    gauss = np.exp(-(t**2) / (2 * sigma**2))
    return np.convolve(rect, gauss / gauss.sum())


def pulse_shape(symbols: np.ndarray, taps: np.ndarray, sps: int, n_samples: int) -> np.ndarray:
    """Upsample by ``sps`` and filter with ``taps``; the steady-state part only.

    A polyphase matrix product (one small matmul instead of scipy.signal.upfirdn, ~10x faster).

    Args:
        symbols: ``[n, n_sym]`` real or complex, with ``n_sym >= ceil(n_samples / sps) +
            ceil(len(taps) / sps) - 1`` (the first filter span is transient and dropped).
        taps: FIR taps at the output rate.
        sps: upsampling factor.
        n_samples: output length.

    Returns:
        ``[n, n_samples]`` float32 or complex64 (matching ``symbols``).
    """
    n_branch = -(-len(taps) // sps)
    padded = np.zeros(n_branch * sps, np.float32)
    padded[: len(taps)] = taps
    branches = padded.reshape(n_branch, sps)[::-1]  # [j, p] = taps[(J-1-j)·sps + p]
    n = symbols.shape[0]
    if np.iscomplexobj(symbols):  # filter I and Q as two real rows: BLAS-friendly strides
        parts = np.stack([symbols.real, symbols.imag], axis=1).astype(np.float32)
    else:
        parts = symbols.astype(np.float32)[:, None, :]
    windows = sliding_window_view(parts, n_branch, axis=2)  # [n, 1|2, n_out, J]
    out = (windows @ branches).reshape(n, parts.shape[1], -1)  # [n, 1|2, n_out·sps]
    if out.shape[2] < n_samples:
        raise ValueError(f"{symbols.shape[1]} symbols are too few for {n_samples} samples")
    if parts.shape[1] == 1:
        return out[:, 0, :n_samples]
    return out[:, 0, :n_samples] + 1j * out[:, 1, :n_samples]


def cpm_phase(
    levels: np.ndarray, index: float, pulse: np.ndarray, sps: int, n_samples: int
) -> np.ndarray:
    """Continuous-phase modulation: phase φ = π·h·cumsum(Σ a_k g(t - kT)) / sps.

    Args:
        levels: ``[n, n_sym]`` symbol levels a_k in {±1, ±3, ..., ±(M-1)}.
        index: modulation index h (CPFSK/GMSK 0.5, RML GFSK ≈0.25, M-FSK 1).
        pulse: frequency pulse from :func:`frequency_pulse` (sums to ``sps``).
        sps: samples per symbol.
        n_samples: output length.

    Returns:
        ``[n, n_samples]`` float32 unwrapped phase in radians (starting near 0).
    """
    freq = pulse_shape(levels.astype(np.float32), pulse, sps, n_samples)
    # float64 running sum; float32 is then exact to < 1e-3 rad for the phases reached here
    return (np.cumsum(freq, axis=1, dtype=np.float64) * (np.pi * index / sps)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _audio_filters(audio_rate_hz: float, up: int) -> tuple[np.ndarray, np.ndarray]:
    """(one-sided 300-3400 Hz band-pass at the audio rate, x``up`` interpolation low-pass)."""
    n_band = 33
    band = signal.firwin(n_band, 1550, fs=audio_rate_hz)
    band = band * np.exp(2j * np.pi * 1850 * np.arange(n_band) / audio_rate_hz)
    band /= np.sqrt(np.sum(np.abs(band) ** 2))
    # Kaiser low-pass at the audio Nyquist: ±12 audio samples, ~60 dB image rejection
    lowpass = signal.firwin(24 * up + 1, 1 / up, window=("kaiser", 6.0)) * up
    band.flags.writeable = lowpass.flags.writeable = False
    return band, lowpass


def _speech_audio(
    n: int,
    n_audio: int,
    audio_rate_hz: float,
    band: np.ndarray,
    silence_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Analytic speech-like audio ``[n, n_audio]`` complex64; E|z|² = 2·SPEECH_RMS² if active."""
    t_s = np.arange(n_audio) / audio_rate_hz
    # voiced part: harmonics of a random pitch in 300-3400 Hz shaped by two random formants
    pitch_hz = rng.uniform(85.0, 255.0, (n, 1))
    harmonic_hz = pitch_hz * np.arange(1, int(3400 / 85) + 1)  # [n, K]
    formant1_hz, formant2_hz = rng.uniform(300, 900, (n, 1)), rng.uniform(900, 2500, (n, 1))
    gain = 1 / (1 + ((harmonic_hz - formant1_hz) / 150) ** 2)
    gain += 0.5 / (1 + ((harmonic_hz - formant2_hz) / 200) ** 2) + 0.05
    gain *= (harmonic_hz >= 300) & (harmonic_hz <= 3400)
    gain /= np.sqrt(np.sum(gain**2, axis=1, keepdims=True))
    start_phase = rng.uniform(0, 2 * np.pi, harmonic_hz.shape)
    phase = 2 * np.pi * harmonic_hz[:, :, None] * t_s + start_phase[:, :, None]
    voiced = np.einsum("nk,nkt->nt", gain.astype(np.complex64), unit_phasor(phase))
    # unvoiced part: white noise through a one-sided (analytic) 300-3400 Hz band-pass FIR
    white = rng.standard_normal((n, n_audio + len(band) - 1, 2), dtype=np.float32)
    white = white.view(np.complex64)[..., 0] / np.sqrt(np.float32(2))
    noise = sliding_window_view(white, len(band), axis=1) @ band[::-1].astype(np.complex64)
    voicing = rng.uniform(0, 1, (n, 1)).astype(np.float32)
    audio = np.sqrt(voicing) * voiced + np.sqrt(1 - voicing) * noise  # E|.|² = 1
    # syllabic envelope sin²(π r t + ψ), r in 2-8 Hz; E[env²] = 3/8; silent frames at -40 dB
    rate_hz, offset = rng.uniform(2, 8, (n, 1)), rng.uniform(0, np.pi, (n, 1))
    envelope = np.sin(np.pi * rate_hz * t_s + offset) ** 2 / np.sqrt(3 / 8)
    silent = rng.random((n, 1)) < silence_fraction
    envelope = np.where(silent, _BACKGROUND_LEVEL, envelope) * (np.sqrt(2) * SPEECH_RMS)
    return audio * envelope.astype(np.float32)


def speech_analytic(
    n: int,
    n_samples: int,
    sample_rate_hz: float,
    silence_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Synthetic speech as an analytic signal z = m + j·hilbert(m) (no audio files exist).

    Voiced harmonics of a random pitch (85-255 Hz) under two random formants, mixed with
    band-limited noise in 300-3400 Hz, under a 2-8 Hz syllabic envelope; a frame is silent
    (background at -40 dB) with probability ``silence_fraction`` (amr_data.md 1.3 item 4, 5.2).
    Built at an audio rate of ``sample_rate_hz / floor(sample_rate_hz / 8 kHz)`` (8 kHz at
    200 kHz) and interpolated. The real part m has RMS ``SPEECH_RMS`` over active speech; the
    analytic form gives SSB without a Hilbert filter.

    Returns:
        ``[n, n_samples]`` complex64.
    """
    up = int(sample_rate_hz // AUDIO_RATE_HZ)
    audio_rate_hz = sample_rate_hz / up
    band, lowpass = _audio_filters(audio_rate_hz, up)
    n_audio = -(-n_samples // up) + -(-len(lowpass) // up) - 1
    audio = _speech_audio(n, n_audio, audio_rate_hz, band, silence_fraction, rng)
    return pulse_shape(audio, lowpass, up, n_samples)


def am_dsb(message: np.ndarray, mod_index: np.ndarray | None) -> np.ndarray:
    """AM-DSB: 1 + μ·m with carrier (``mod_index`` ``[n, 1]``), or m without (``None``).

    Args:
        message: ``[n, T]`` real speech m(t) with RMS ``SPEECH_RMS`` when active.
        mod_index: per-frame μ, or ``None`` for suppressed carrier.

    Returns:
        ``[n, T]`` complex64 with unit nominal power (over active speech).
    """
    if mod_index is None:
        return (message / SPEECH_RMS).astype(np.complex64)
    power = 1 + mod_index**2 * SPEECH_RMS**2
    envelope = np.maximum(1 + mod_index * message, 0)  # a transmitter never over-modulates
    return (envelope / np.sqrt(power)).astype(np.complex64)


def am_ssb(analytic: np.ndarray, lower: np.ndarray, mod_index: np.ndarray | None) -> np.ndarray:
    """AM-SSB: m ± j·hilbert(m), with carrier 1 + μ·(m ± j·hilbert(m)) or without (``None``).

    Args:
        analytic: ``[n, T]`` z = m + j·hilbert(m) from :func:`speech_analytic`.
        lower: ``[n, 1]`` bool, lower sideband (conjugate) where true.
        mod_index: per-frame μ ``[n, 1]``, or ``None`` for suppressed carrier.

    Returns:
        ``[n, T]`` complex64 with unit nominal power (over active speech).
    """
    sideband = np.where(lower, analytic.conj(), analytic)
    if mod_index is None:
        return (sideband / (np.sqrt(2) * SPEECH_RMS)).astype(np.complex64)
    power = 1 + mod_index**2 * 2 * SPEECH_RMS**2
    return ((1 + mod_index * sideband) / np.sqrt(power)).astype(np.complex64)


def fm_phase(message: np.ndarray, deviation_hz: float, sample_rate_hz: float) -> np.ndarray:
    """FM phase 2π·f_dev·cumsum(m)/fs in radians, ``[n, T]`` float32 (signal = exp(jφ))."""
    phase = np.cumsum(message, axis=1) * (2 * np.pi * deviation_hz / sample_rate_hz)
    return phase.astype(np.float32)


def unit_phasor(phase_rad: np.ndarray) -> np.ndarray:
    """exp(jφ) as complex64 via float32 cos and sin (numpy's complex exp is ~15x slower).

    Args:
        phase_rad: ``[n, T]`` real phase.

    Returns:
        ``[n, T]`` complex64.
    """
    phase = phase_rad.astype(np.float32, copy=False)
    out = np.empty((*phase.shape, 2), np.float32)
    np.cos(phase, out=out[..., 0])
    np.sin(phase, out=out[..., 1])
    return out.view(np.complex64)[..., 0]
