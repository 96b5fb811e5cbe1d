import dataclasses
import json

import numpy as np
import pytest
from scipy.signal import lfilter

from engine.data.channel import (
    add_awgn,
    interpolate,
    multipath_taps,
    noise_variance,
    normalise_frames,
)
from engine.data.modulation import constellation, pulse_shape, rrc_taps
from engine.data.profiles import PROFILES
from engine.data.synth import (
    CLASS_NAMES,
    SignalConfig,
    synthesize_baseband,
    synthesize_frames,
    to_iq,
)

PROFILE_CLASSES = [(name, cls) for name, p in PROFILES.items() for cls in p.classes]
CPM_AND_FM = ("CPFSK", "GFSK", "GMSK", "2FSK", "4FSK", "8FSK", "FM", "WBFM")


def _snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """Mean over frames of the per-frame SNR 10·log10(P_clean / P_noise)."""
    signal_power = np.mean(np.abs(clean) ** 2, axis=1)
    noise_power = np.mean(np.abs(noisy - clean) ** 2, axis=1)
    return float(np.mean(10 * np.log10(signal_power / noise_power)))


@pytest.mark.parametrize(("profile", "class_name"), PROFILE_CLASSES)
def test_every_class_of_every_profile(profile, class_name):
    p = PROFILES[profile]
    iq = synthesize_frames(p.signal, class_name, 4.0, 5, p.length, np.random.default_rng(11))
    assert iq.shape == (5, 2, p.length) and iq.dtype == np.float32
    assert np.isfinite(iq).all()
    again = synthesize_frames(p.signal, class_name, 4.0, 5, p.length, np.random.default_rng(11))
    np.testing.assert_array_equal(iq, again)
    other = synthesize_frames(p.signal, class_name, 4.0, 5, p.length, np.random.default_rng(12))
    assert not np.allclose(iq, other)
    magnitude = np.hypot(iq[:, 0].astype(float), iq[:, 1])
    if p.signal.normalisation == "l1":
        np.testing.assert_allclose(magnitude.sum(axis=1), 1.0, rtol=1e-4)
    else:
        np.testing.assert_allclose(np.mean(magnitude**2, axis=1), 1.0, rtol=1e-4)


def test_profile_settings():
    assert SignalConfig.for_profile("rml2016a").normalisation == "l1"
    zsl = SignalConfig.for_profile("sigzsl7")
    assert (zsl.sps, zsl.rolloff, zsl.rrc_span_symbols) == (8, 0.35, 4)
    assert (zsl.snr_convention, zsl.fading, zsl.normalisation) == ("esn0", "none", "power")
    for name in PROFILES:
        config = SignalConfig.for_profile(name)
        assert config.profile == name and config.sps == 8
        json.dumps(dataclasses.asdict(config))  # stored in dataset.json
    with pytest.raises(ValueError, match="rml2017"):
        SignalConfig.for_profile("rml2017")


def test_every_profile_class_is_known():
    assert {cls for _, cls in PROFILE_CLASSES} <= set(CLASS_NAMES)


def test_unknown_class_raises():
    config = SignalConfig.for_profile("rml2016a")
    with pytest.raises(ValueError, match="'QAM17'"):
        synthesize_frames(config, "QAM17", 0.0, 2, 128, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("key", "value"),
    [("snr_convention", "db"), ("normalisation", "l2"), ("fading", "nakagami"), ("sps", 1)],
)
def test_bad_config_raises(key, value):
    with pytest.raises(ValueError, match=key):
        SignalConfig(**{key: value})


def test_global_rng_untouched():
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    synthesize_frames(
        SignalConfig.for_profile("rml2018a"), "FM", 0.0, 3, 256, np.random.default_rng(0)
    )
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_frames_are_the_normalised_baseband_draw():
    config = SignalConfig.for_profile("rml2016a")
    for class_name in ("QAM16", "AM-DSB"):
        iq = synthesize_frames(config, class_name, 6.0, 300, 128, np.random.default_rng(3))
        _, noisy = synthesize_baseband(config, class_name, 6.0, 300, 128, np.random.default_rng(3))
        np.testing.assert_array_equal(iq, to_iq(normalise_frames(noisy, "l1")))


@pytest.mark.parametrize("class_name", ["BPSK", "16QAM", "128APSK", "OQPSK", "GMSK", "8FSK"])
@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 10.0, 20.0])
def test_per_sample_snr_matches_label(class_name, snr_db):
    config = dataclasses.replace(SignalConfig.for_profile("rml2018a"), fading="none")
    clean, noisy = synthesize_baseband(
        config, class_name, snr_db, 64, 1024, np.random.default_rng(1)
    )
    assert abs(_snr_db(clean, noisy) - snr_db) < 0.5


@pytest.mark.parametrize("class_name", ["BPSK", "2ASK", "4ASK", "64QAM"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0])
def test_esn0_snr_is_per_sample_plus_10log10_sps(class_name, snr_db):
    config = SignalConfig.for_profile("sigzsl7")
    clean, noisy = synthesize_baseband(
        config, class_name, snr_db, 64, 1024, np.random.default_rng(2)
    )
    assert abs(_snr_db(clean, noisy) - (snr_db - 10 * np.log10(8))) < 0.5


def test_noise_variance_conventions():
    assert noise_variance(10.0, "per_sample") == pytest.approx(0.1)
    assert noise_variance(10.0, "esn0", sps=8) == pytest.approx(0.8)
    assert noise_variance(10.0, "rml2016") == pytest.approx(2e-2)  # 2·(10^-1)²
    noisy = add_awgn(np.zeros((200, 1000), np.complex64), 3.0, np.random.default_rng(0))
    assert np.mean(np.abs(noisy) ** 2) == pytest.approx(10**-0.3, rel=0.02)
    assert abs(np.mean(noisy.real**2) - np.mean(noisy.imag**2)) < 0.01  # circular


def test_fading_has_unit_mean_energy_and_varies_per_frame():
    taps = multipath_taps(
        20000, (0.0, 0.9, 1.7), (1.0, 0.8, 0.3), "rician", 4.0, np.random.default_rng(0)
    )
    energy = np.sum(np.abs(taps) ** 2, axis=1)
    assert energy.mean() == pytest.approx(1.0, abs=0.02)
    assert energy.std() > 0.2
    config = SignalConfig.for_profile("rml2018a")
    clean, _ = synthesize_baseband(config, "QPSK", 10.0, 2000, 256, np.random.default_rng(4))
    power = np.mean(np.abs(clean) ** 2, axis=1)
    assert power.mean() == pytest.approx(1.0, abs=0.05)
    assert power.std() > 0.2


def test_bpsk_and_2ask_separate_by_envelope_at_10db():
    config = SignalConfig.for_profile("sigzsl7")
    matched = rrc_taps(0.35, 4, 8)

    def envelope_spread(iq):
        x = lfilter(matched, 1.0, iq[:, 0] + 1j * iq[:, 1], axis=1)[:, 40:]
        power = np.abs(x) ** 2
        return power.std(axis=1) / power.mean(axis=1)

    bpsk = envelope_spread(
        synthesize_frames(config, "BPSK", 10.0, 200, 1024, np.random.default_rng(5))
    )
    ask = envelope_spread(
        synthesize_frames(config, "2ASK", 10.0, 200, 1024, np.random.default_rng(6))
    )
    accuracy = (np.mean(bpsk < 0.9) + np.mean(ask >= 0.9)) / 2
    assert accuracy >= 0.95


def test_constellations():
    sizes = {"bpsk": 2, "qpsk": 4, "8psk": 8, "32psk": 32, "16qam": 16, "32qam": 32}
    sizes |= {"128qam": 128, "256qam": 256, "16apsk": 16, "32apsk": 32, "64apsk": 64}
    sizes |= {"128apsk": 128, "2ask": 2, "4ask": 4, "8ask": 8, "4pam": 4, "8pam": 8}
    for name, size in sizes.items():
        points = constellation(name)
        assert len(np.unique(np.round(points, 9))) == size == len(points)
        assert np.mean(np.abs(points) ** 2) == pytest.approx(1.0)
    qam32 = constellation("32qam") / np.min(np.abs(constellation("32qam").real))
    assert len(np.unique(np.round(qam32, 6))) == 32
    edge = np.max(np.abs(qam32.real))
    assert edge == pytest.approx(5.0)
    assert not np.any(np.isclose(np.abs(qam32.real), edge) & np.isclose(np.abs(qam32.imag), edge))
    qam128 = constellation("128qam") / np.min(np.abs(constellation("128qam").real))
    assert np.max(np.abs(qam128.real)) == pytest.approx(11.0)
    assert not np.any((np.abs(qam128.real) > 8) & (np.abs(qam128.imag) > 8))
    for name in ("2ask", "4ask", "8ask"):
        levels = constellation(name)
        assert np.min(np.abs(levels)) == 0 and np.all(levels.imag == 0) and np.all(levels.real >= 0)
    np.testing.assert_allclose(np.sort(constellation("2ask").real), [0, np.sqrt(2)])
    angles = np.angle(constellation("qpsk"))
    np.testing.assert_allclose(
        np.sort(np.mod(angles, 2 * np.pi)), np.pi / 4 * np.array([1, 3, 5, 7])
    )
    assert np.all(constellation("8pam").imag == 0) and np.mean(
        constellation("8pam")
    ) == pytest.approx(0)
    with pytest.raises(ValueError):
        constellation("12qam")


@pytest.mark.parametrize("class_name", CPM_AND_FM)
def test_cpm_and_fm_have_constant_envelope_before_noise(class_name):
    config = dataclasses.replace(SignalConfig.for_profile("sig2019"), fm_deviation_hz=75e3)
    clean, _ = synthesize_baseband(config, class_name, 0.0, 16, 512, np.random.default_rng(7))
    np.testing.assert_allclose(np.abs(clean), 1.0, atol=1e-5)


def test_oqpsk_avoids_zero_crossings_unlike_qpsk():
    config = SignalConfig(carrier_phase=False, timing_offset="none")
    oqpsk, _ = synthesize_baseband(config, "OQPSK", 0.0, 50, 1024, np.random.default_rng(8))
    qpsk, _ = synthesize_baseband(config, "QPSK", 0.0, 50, 1024, np.random.default_rng(8))
    assert np.abs(oqpsk).min() > 0.3 and np.abs(qpsk).min() < 0.05


def test_silence_makes_am_dsb_and_wbfm_a_bare_carrier():
    def envelope_spread(x):
        return np.std(np.abs(x), axis=1) / np.mean(np.abs(x), axis=1)

    def frequency_spread(x):
        return np.std(np.diff(np.unwrap(np.angle(x)), axis=1), axis=1)

    silent = dataclasses.replace(SignalConfig.for_profile("rml2016a"), silence_fraction=1.0)
    active = dataclasses.replace(silent, silence_fraction=0.0)
    rng = np.random.default_rng(9)
    for class_name in ("AM-DSB", "WBFM"):  # the known AM-DSB/WBFM confusion (amr_data.md 1.3)
        quiet, _ = synthesize_baseband(silent, class_name, 0.0, 64, 128, rng)
        assert envelope_spread(quiet).max() < 0.01 and frequency_spread(quiet).max() < 0.01
    am, _ = synthesize_baseband(active, "AM-DSB", 0.0, 64, 128, rng)
    fm, _ = synthesize_baseband(active, "WBFM", 0.0, 64, 128, rng)
    assert envelope_spread(am).mean() > 0.05 and frequency_spread(fm).mean() > 0.05
    sc, _ = synthesize_baseband(active, "AM-DSB-SC", 0.0, 400, 256, rng)
    assert np.mean(np.abs(sc) ** 2) == pytest.approx(1.0, rel=0.15)


def test_rrc_and_pulse_shape():
    taps = rrc_taps(0.35, 4, 8)
    assert len(taps) == 33 and np.sum(taps**2) == pytest.approx(1.0)
    np.testing.assert_allclose(taps, taps[::-1])
    symbols = constellation("16qam")[np.random.default_rng(0).integers(0, 16, (3, 40))]
    shaped = pulse_shape(symbols, taps, 8, 200)
    up = np.zeros((3, 40 * 8), complex)
    up[:, ::8] = symbols
    full = np.array([np.convolve(row, taps) for row in up])
    np.testing.assert_allclose(shaped, full[:, 32:232], atol=1e-5)


def test_interpolate_is_exact_for_cubics_and_integer_times():
    t = np.arange(50, dtype=float)
    x = np.stack([0.01 * t**3 - t, 2 * t**2 + 1j * t]).astype(np.complex64)
    times = np.array([[1.0, 2.25, 10.5, 46.9], [3.0, 7.75, 20.1, 44.0]])
    expected = np.stack([0.01 * times[0] ** 3 - times[0], 2 * times[1] ** 2 + 1j * times[1]])
    np.testing.assert_allclose(interpolate(x, times), expected, rtol=1e-4, atol=1e-3)
    whole = np.array([[1.0, 5.0], [2.0, 9.0]])
    np.testing.assert_array_equal(interpolate(x, whole), [x[0, [1, 5]], x[1, [2, 9]]])
