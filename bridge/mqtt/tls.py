"""The TLS context of the broker connection.

Layer: ``bridge.mqtt`` (stdlib ``ssl`` only). Built once at start from ``[mqtt]``; a missing or
unreadable CA, certificate or key is a configuration error at start, never a silent fallback to
plaintext: the broker link connects with this context or not at all.
"""

from __future__ import annotations

import ssl

from bridge.core.errors import ConfigError
from bridge.mqtt.config import MqttConfig


def tls_context(config: MqttConfig) -> ssl.SSLContext | None:
    """The client TLS context, or None when ``[mqtt] tls`` is off."""
    if not config.tls:
        return None
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(config.ca_file) if config.ca_file else None)
    except (OSError, ssl.SSLError) as err:
        raise ConfigError("mqtt.ca_file", f"cannot load CA certificates: {err}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.cert_file is not None and config.key_file is not None:
        try:
            context.load_cert_chain(str(config.cert_file), str(config.key_file))
        except (OSError, ssl.SSLError) as err:
            raise ConfigError("mqtt.cert_file",
                              f"cannot load the client certificate and key: {err}") from None
    if config.tls_insecure:
        # The chain is still verified against the CA; only the host name check is skipped.
        context.check_hostname = False
    return context
