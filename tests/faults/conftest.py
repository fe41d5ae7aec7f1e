"""The fault tests run a real gateway between simulated devices with the end-to-end rig
(``tests/e2e/conftest.py``): its fixtures are reused here rather than copied."""

from tests.e2e.conftest import coap, consumer, rig

__all__ = ["coap", "consumer", "rig"]
