"""ocfaj: a gateway between OCF (CoAP/CBOR) devices, AllJoyn (D-Bus) devices and MQTT.

The package is layered (see docs/architecture.md): ``bridge.model`` and ``bridge.core`` are
pure; each protocol adapter (``ocf``, ``alljoyn``, ``mqtt``, ``discovery``) is the only
importer of its protocol library; ``bridge.daemon`` wires everything together.
"""

__version__ = "0.1.0"
#: Where people find the documentation (also ``[project.urls] Documentation`` in
#: pyproject.toml; a test keeps the two equal). A constant rather than a metadata look-up, so
#: a checkout run without reinstalling, or an editable install older than the entry, still has it.
DOCUMENTATION_URL = "https://github.com/ocfaj/ocfaj/tree/main/docs"
