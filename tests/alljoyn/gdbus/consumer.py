"""An AllJoyn consumer written with GDBus (PyGObject), not with dbus-fast: it reads and drives
one producer the way GDBus applications do, and prints what it saw as one JSON object.

Run by Debian's ``/usr/bin/python3`` (``python3-gi``), never imported by the tests:
``consumer.py ADDRESS BUS_NAME``. It reads About (``""`` and ``EN-us``) and the object
description, introspects the object holding OnOffStatus, reads ``IsOn`` and ``Brightness``
through ``Gio.DBusProxy``, sets Brightness to 0.45, calls ``SwitchOn`` and reports the D-Bus
error of an About request in a language the producer does not speak.
"""

import json
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

SS = "org.alljoyn.SmartSpaces.Operation."
EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"


def main():
    address, name = sys.argv[1], sys.argv[2]
    flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
             | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
    bus = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)

    def call(path, interface, method, params=None, reply="()"):
        result = bus.call_sync(name, path, interface, method, params, GLib.VariantType(reply),
                               Gio.DBusCallFlags.NONE, 5000, None)
        return result.unpack()

    report = {}
    (about,) = call("/About", "org.alljoyn.About", "GetAboutData", GLib.Variant("(s)", ("",)),
                    "(a{sv})")
    report["about"] = {k: (bytes(v).hex() if k == "AppId" else v) for k, v in about.items()}
    (localised,) = call("/About", "org.alljoyn.About", "GetAboutData",
                        GLib.Variant("(s)", ("EN-us",)), "(a{sv})")
    report["localised_app_name"] = localised["AppName"]
    try:
        call("/About", "org.alljoyn.About", "GetAboutData", GLib.Variant("(s)", ("tlh",)),
             "(a{sv})")
        report["tlh"] = "answered"
    except GLib.Error as err:
        report["tlh"] = Gio.DBusError.get_remote_error(err)
    (objects,) = call("/About", "org.alljoyn.About", "GetObjectDescription", None, "(a(oas))")
    report["objects"] = {path: sorted(ifaces) for path, ifaces in objects}
    path = next(p for p, ifaces in objects if f"{SS}OnOffStatus" in ifaces)
    report["path"] = path
    (xml,) = call(path, "org.freedesktop.DBus.Introspectable", "Introspect", None, "(s)")
    node = Gio.DBusNodeInfo.new_for_xml(xml)
    status = node.lookup_interface(f"{SS}OnOffStatus")
    is_on = status.lookup_property("IsOn")
    report["is_on_emits"] = next(a.value for a in is_on.annotations if a.key == EMITS)
    report["secure_annotations"] = [i.name for i in node.interfaces for a in i.annotations
                                    if a.key == "org.alljoyn.Bus.Secure"]

    def proxy(interface):
        return Gio.DBusProxy.new_sync(bus, Gio.DBusProxyFlags.NONE,
                                      node.lookup_interface(interface), name, path, interface,
                                      None)

    report["is_on"] = proxy(f"{SS}OnOffStatus").get_cached_property("IsOn").unpack()
    brightness = proxy(f"{SS}Brightness")
    report["brightness"] = brightness.get_cached_property("Brightness").unpack()
    brightness.call_sync("org.freedesktop.DBus.Properties.Set",
                         GLib.Variant("(ssv)", (f"{SS}Brightness", "Brightness",
                                                GLib.Variant("d", 0.45))),
                         Gio.DBusCallFlags.NONE, 5000, None)
    proxy(f"{SS}OnControl").call_sync("SwitchOn", None, Gio.DBusCallFlags.NONE, 5000, None)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
