"""What a source does when its weights may not be had, framework-free: whether a host answers within seconds
(a download could start), and the loud banner when the untrained network stands in for pretrained weights."""

from __future__ import annotations

import socket
import sys
import threading

__all__ = ["REACH_TIMEOUT", "reachable", "announce_untrained"]


#: Seconds to wait for the host of a preset that is not cached before saying it cannot be had.
REACH_TIMEOUT = 3.0


def reachable(host: str, timeout: float = REACH_TIMEOUT) -> bool:
    """Whether ``host`` answers on HTTPS within ``timeout`` seconds (a download could start).

    The name lookup has no timeout of its own, so the probe runs in a thread that is given up on after
    ``timeout`` seconds."""
    answered: list[bool] = []

    def probe():
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                answered.append(True)
        except OSError:
            answered.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered and answered[0])


def announce_untrained(reason: str) -> None:
    """Say loudly, on standard error, that the untrained network replaces ImageNet weights.

    Parameters
    ----------
    reason : str
        Why the ImageNet weights could not be had.
    """
    bar = "!" * 78
    print(f"\n{bar}\n  ImageNet weights are not available: {reason}\n"
          "  RUNNING THE UNTRAINED NETWORK (random weights, fixed seed) INSTEAD.\n"
          "  Every output is labelled 'untrained'. These are NOT the study's results.\n"
          f"{bar}\n", file=sys.stderr, flush=True)
