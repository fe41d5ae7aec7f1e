"""An AllJoyn lamp written with GDBus (PyGObject), not with dbus-fast: a second D-Bus library
the gateway's consumer is tested against.

Run by Debian's ``/usr/bin/python3`` (``python3-gi``), never imported by the tests:
``producer.py ADDRESS [--refuse-empty-language]``. It exports ``/About`` and ``/lamp`` (the
Common Device Models layout: OnOffStatus, OnControl, OffControl and Brightness on one object),
sends Announce, and prints JSON lines: ``{"ready": <unique name>}``, then one line per call a
client made (``{"call": "SwitchOn"}``, ``{"set": "Brightness", "value": 0.25}``). SIGTERM ends it.
"""

import json
import sys

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

SS = "org.alljoyn.SmartSpaces.Operation."
EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"
VERSION = f'<property name="Version" type="q" access="read"><annotation name="{EMITS}" ' \
          'value="const"/></property>'
ABOUT_XML = """<node><interface name="org.alljoyn.About">
  <property name="Version" type="q" access="read"/>
  <method name="GetAboutData"><arg name="languageTag" type="s" direction="in"/>
    <arg name="aboutData" type="a{sv}" direction="out"/></method>
  <method name="GetObjectDescription">
    <arg name="objectDescription" type="a(oas)" direction="out"/></method>
  <signal name="Announce"><arg name="version" type="q"/><arg name="port" type="q"/>
    <arg name="objectDescription" type="a(oas)"/><arg name="metaData" type="a{sv}"/></signal>
</interface></node>"""
LAMP_XML = f"""<node>
<interface name="{SS}OnOffStatus">{VERSION}
  <property name="IsOn" type="b" access="read"><annotation name="{EMITS}" value="true"/>
  </property></interface>
<interface name="{SS}OnControl">{VERSION}<method name="SwitchOn"/></interface>
<interface name="{SS}OffControl">{VERSION}<method name="SwitchOff"/></interface>
<interface name="{SS}Brightness">{VERSION}
  <property name="Brightness" type="d" access="readwrite">
    <annotation name="{EMITS}" value="true"/></property></interface>
</node>"""
LAMP_INTERFACES = [f"{SS}OnOffStatus", f"{SS}OnControl", f"{SS}OffControl", f"{SS}Brightness"]
OBJECTS = [("/About", ["org.alljoyn.About"]), ("/lamp", LAMP_INTERFACES)]
APP_ID = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")


def say(event):
    print(json.dumps(event), flush=True)


class Lamp:
    def __init__(self, connection, refuse_empty_language):
        self.connection = connection
        self.refuse_empty_language = refuse_empty_language
        self.language = "de" if refuse_empty_language else "en"
        self.on = False
        self.brightness = 0.5

    def about(self):
        text = {"AppId": GLib.Variant("ay", APP_ID),
                "DefaultLanguage": GLib.Variant("s", self.language),
                "DeviceId": GLib.Variant("s", "gdbus-lamp-1"),
                "AppName": GLib.Variant("s", "GDBus Lamp"),
                "DeviceName": GLib.Variant("s", "GDBus Lamp"),
                "Manufacturer": GLib.Variant("s", "GLib Works"),
                "ModelNumber": GLib.Variant("s", "G1"),
                "SupportedLanguages": GLib.Variant("as", [self.language]),
                "Description": GLib.Variant("s", "a lamp written with GDBus"),
                "SoftwareVersion": GLib.Variant("s", "1.0"),
                "AJSoftwareVersion": GLib.Variant("s", "16.10.00")}
        return text

    def on_about_call(self, connection, sender, path, interface, method, params, invocation):
        if method == "GetObjectDescription":
            invocation.return_value(GLib.Variant("(a(oas))", (OBJECTS,)))
            return
        (language,) = params.unpack()
        if (language == "" and self.refuse_empty_language) or language not in ("",
                                                                                 self.language):
            invocation.return_dbus_error("org.alljoyn.Error.LanguageNotSupported",
                                         f"only {self.language}")
            return
        invocation.return_value(GLib.Variant("(a{sv})", (self.about(),)))

    def on_about_get(self, connection, sender, path, interface, name):
        return GLib.Variant("q", 1)

    def on_lamp_call(self, connection, sender, path, interface, method, params, invocation):
        say({"call": method})
        self.on = method == "SwitchOn"
        invocation.return_value(None)
        self.changed(f"{SS}OnOffStatus", "IsOn", GLib.Variant("b", self.on))

    def on_lamp_get(self, connection, sender, path, interface, name):
        if name == "Version":
            return GLib.Variant("q", 1)
        if name == "IsOn":
            return GLib.Variant("b", self.on)
        return GLib.Variant("d", self.brightness)

    def on_lamp_set(self, connection, sender, path, interface, name, value):
        self.brightness = value.unpack()
        say({"set": name, "value": self.brightness})
        self.changed(interface, name, value)
        return True

    def changed(self, interface, name, value):
        self.connection.emit_signal(None, "/lamp", "org.freedesktop.DBus.Properties",
                                    "PropertiesChanged",
                                    GLib.Variant("(sa{sv}as)", (interface, {name: value}, [])))

    def announce(self):
        meta = {k: v for k, v in self.about().items()
                if k in ("AppId", "DefaultLanguage", "DeviceName", "DeviceId", "AppName",
                         "Manufacturer", "ModelNumber")}
        self.connection.emit_signal(None, "/About", "org.alljoyn.About", "Announce",
                                    GLib.Variant("(qqa(oas)a{sv})", (1, 0, OBJECTS, meta)))


def main():
    address = sys.argv[1]
    flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
             | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
    connection = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
    lamp = Lamp(connection, "--refuse-empty-language" in sys.argv[2:])
    about = Gio.DBusNodeInfo.new_for_xml(ABOUT_XML).interfaces[0]
    connection.register_object("/About", about, lamp.on_about_call, lamp.on_about_get, None)
    for info in Gio.DBusNodeInfo.new_for_xml(LAMP_XML).interfaces:
        connection.register_object("/lamp", info, lamp.on_lamp_call, lamp.on_lamp_get,
                                   lamp.on_lamp_set)
    lamp.announce()
    say({"ready": connection.get_unique_name()})
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
