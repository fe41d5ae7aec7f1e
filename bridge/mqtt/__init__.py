"""The MQTT side: every bridged device mirrored to a broker, with Home Assistant discovery.

Layer: ``bridge.mqtt``, the only package that imports the MQTT client (aiomqtt over paho-mqtt),
and only in ``bridge.mqtt.connection``. Everything else here is pure (topics, payloads,
discovery documents) or stdlib I/O (the SQLite outbox). It meets the other sides only through
``bridge.core`` (registry and event bus); it never imports ``bridge.ocf``, ``bridge.alljoyn`` or
``bridge.discovery`` (the daemon hands in a broker finder for ``host = "auto"``).

The daemon constructs :class:`bridge.mqtt.side.MqttSide`.
"""
