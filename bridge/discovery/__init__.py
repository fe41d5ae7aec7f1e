"""mDNS / DNS-SD service discovery (zeroconf), the only package that imports zeroconf.

Layer: ``bridge.discovery``. It finds services and returns plain addresses; it knows nothing of
MQTT clients, OCF or AllJoyn, and the daemon hands its functions to the sides that need them
(``bridge.discovery.broker.find_mqtt_broker`` for ``[mqtt] host = "auto"``).
"""
