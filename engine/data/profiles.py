"""Synthetic dataset profiles: class lists, frame length, SNR grid and size at scale 1.

How each class is synthesised (pulse shapes, constellations, channel) lives in
:mod:`engine.data.synth`; the per-profile signal settings are the ``signal`` field here.
Every choice is documented in ``docs/datasets.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.data.synth import SignalConfig

__all__ = ["PROFILES", "Profile", "get_profile"]


@dataclass(frozen=True)
class Profile:
    """A synthetic look-alike of a published dataset.

    Attributes:
        name: registry name.
        classes: class names in label order.
        length: samples per frame ``L``.
        snr_grid_db: SNR labels, ascending.
        frames_per_key: frames per (class, SNR) at scale 1.
        signal: how frames are synthesised (see :class:`engine.data.synth.SignalConfig`).
        description: one line for ``duse data info`` and the docs.
    """

    name: str
    classes: tuple[str, ...]
    length: int
    snr_grid_db: tuple[float, ...]
    frames_per_key: int
    signal: SignalConfig
    description: str

    @property
    def num_rows(self) -> int:
        return len(self.classes) * len(self.snr_grid_db) * self.frames_per_key


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _grid(start: int, stop: int, step: int) -> tuple[float, ...]:
    return tuple(float(s) for s in range(start, stop + 1, step))


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="rml2016a",
            # sorted names = the conventional label index of RML2016.10a
            classes=_names("8PSK AM-DSB AM-SSB BPSK CPFSK GFSK PAM4 QAM16 QAM64 QPSK WBFM"),
            length=128,
            snr_grid_db=_grid(-20, 18, 2),
            frames_per_key=1000,
            signal=SignalConfig.for_profile("rml2016a"),
            description="RML2016.10a look-alike: 11 classes, L=128, SNR -20..18 dB",
        ),
        Profile(
            name="rml2018a",
            # community-verified one-hot column order (not classes.txt): amr_data.md 2.2
            classes=_names(
                """
                OOK 4ASK 8ASK BPSK QPSK 8PSK 16PSK 32PSK 16APSK 32APSK 64APSK 128APSK
                16QAM 32QAM 64QAM 128QAM 256QAM AM-SSB-WC AM-SSB-SC AM-DSB-WC AM-DSB-SC
                FM GMSK OQPSK
            """
            ),
            length=1024,
            snr_grid_db=_grid(-20, 30, 2),
            frames_per_key=4096,
            signal=SignalConfig.for_profile("rml2018a"),
            description="RML2018.01a look-alike: 24 classes, L=1024, SNR -20..30 dB",
        ),
        Profile(
            name="sig2019",
            # ASSUMED (no public spec of Sig2019-12 exists): classes, L=512, grid, count
            classes=_names("BPSK QPSK 8PSK OQPSK 2FSK 4FSK 8FSK 16QAM 32QAM 64QAM 4PAM 8PAM"),
            length=512,
            snr_grid_db=_grid(-20, 30, 2),
            frames_per_key=1000,
            signal=SignalConfig.for_profile("sig2019"),
            description="Sig2019-12-like (assumed spec): 12 classes, L=512, SNR -20..30 dB",
        ),
        Profile(
            name="sigzsl7",
            classes=("BPSK", "QPSK", "2ASK", "4ASK", "16QAM", "32QAM", "64QAM"),
            length=1024,
            snr_grid_db=_grid(0, 10, 1),
            frames_per_key=400,
            signal=SignalConfig.for_profile("sigzsl7"),
            description="SigZSLNet's 7-class set: L=1024, SNR 0..10 dB, Es/N0 convention",
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``.

    Raises:
        KeyError: unknown profile (the message lists the known ones).
    """
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None
