"""ocfaj: a gateway between OCF (CoAP/CBOR) devices, AllJoyn (D-Bus) devices and MQTT.

The package is layered (see docs/architecture.md): ``bridge.model`` and ``bridge.core`` are
pure; each protocol adapter (``ocf``, ``alljoyn``, ``mqtt``, ``discovery``) is the only
importer of its protocol library; ``bridge.daemon`` wires everything together.
"""

__version__ = "0.1.0"
