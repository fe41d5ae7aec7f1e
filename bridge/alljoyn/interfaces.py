"""AllJoyn interface descriptions as data, and their introspection XML both ways.

Layer: ``bridge.alljoyn``. Pure: builds and parses XML strings (dbus-fast's parser is used for
reading a peer's introspection), no bus I/O. Producers describe the interfaces they generate at
run time with :class:`InterfaceDecl`; the consumer turns a peer's introspection into the same
classes. The ``org.freedesktop.DBus.Property.EmitsChangedSignal`` annotation is written on every
property so that generic consumers (and ``gdbus``) know which properties signal changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbus_fast.introspection import Node

EMITS_CHANGED = "org.freedesktop.DBus.Property.EmitsChangedSignal"
_DOCTYPE = ('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n')
#: What an XML attribute value in double quotes must not hold as such (XML 1.0 section 3.3.3
#: normalises literal white space in attribute values, hence the character references).
_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                    "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


@dataclass(frozen=True)
class PropertyDecl:
    name: str
    signature: str
    access: str  # "read", "readwrite" (or "write")
    emits_changed: str = "true"


@dataclass(frozen=True)
class MemberDecl:
    """A method or signal; arguments are (name, signature) pairs."""

    name: str
    in_args: tuple[tuple[str, str], ...] = ()
    out_args: tuple[tuple[str, str], ...] = ()

    @property
    def in_signature(self) -> str:
        return "".join(sig for _, sig in self.in_args)

    @property
    def out_signature(self) -> str:
        return "".join(sig for _, sig in self.out_args)


@dataclass(frozen=True)
class InterfaceDecl:
    name: str
    properties: tuple[PropertyDecl, ...] = ()
    methods: tuple[MemberDecl, ...] = ()
    signals: tuple[MemberDecl, ...] = ()

    def property(self, name: str) -> PropertyDecl | None:
        return next((p for p in self.properties if p.name == name), None)

    def method(self, name: str) -> MemberDecl | None:
        return next((m for m in self.methods if m.name == name), None)

    def signal(self, name: str) -> MemberDecl | None:
        return next((s for s in self.signals if s.name == name), None)


#: the standard interfaces every exported object answers (dbus-fast or our handler).
STANDARD_XML = """  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="xml_data" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Peer">
    <method name="Ping"/>
    <method name="GetMachineId"><arg name="machine_uuid" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get"><arg name="interface_name" type="s" direction="in"/>
      <arg name="property_name" type="s" direction="in"/>
      <arg name="value" type="v" direction="out"/></method>
    <method name="GetAll"><arg name="interface_name" type="s" direction="in"/>
      <arg name="props" type="a{sv}" direction="out"/></method>
    <method name="Set"><arg name="interface_name" type="s" direction="in"/>
      <arg name="property_name" type="s" direction="in"/>
      <arg name="value" type="v" direction="in"/></method>
    <signal name="PropertiesChanged"><arg name="interface_name" type="s"/>
      <arg name="changed_properties" type="a{sv}"/>
      <arg name="invalidated_properties" type="as"/></signal>
  </interface>
"""


def _attr(value: str) -> str:
    """``value`` as a double-quoted XML attribute value. Written here rather than taken from
    ``xml.sax.saxutils``, whose import pulls in ``urllib.request`` and ``email`` (about 1.4
    MiB of the gateway's idle memory)."""
    return f'"{value.translate(_ATTRIBUTE_ESCAPES)}"'


def interface_xml(decl: InterfaceDecl) -> str:
    lines = [f"  <interface name={_attr(decl.name)}>"]
    for prop in decl.properties:
        lines.append(f"    <property name={_attr(prop.name)} type={_attr(prop.signature)}"
                     f" access={_attr(prop.access)}>")
        lines.append(f"      <annotation name=\"{EMITS_CHANGED}\""
                     f" value={_attr(prop.emits_changed)}/>")
        lines.append("    </property>")
    for method in decl.methods:
        lines.append(f"    <method name={_attr(method.name)}>")
        lines += [f"      <arg name={_attr(n)} type={_attr(s)} direction=\"in\"/>"
                  for n, s in method.in_args]
        lines += [f"      <arg name={_attr(n)} type={_attr(s)} direction=\"out\"/>"
                  for n, s in method.out_args]
        lines.append("    </method>")
    for signal in decl.signals:
        lines.append(f"    <signal name={_attr(signal.name)}>")
        lines += [f"      <arg name={_attr(n)} type={_attr(s)}/>"
                  for n, s in signal.in_args]
        lines.append("    </signal>")
    lines.append("  </interface>")
    return "\n".join(lines) + "\n"


def node_xml(interfaces: list[InterfaceDecl], children: list[str], standard: bool) -> str:
    """The Introspect answer for one object path."""
    body = STANDARD_XML if standard else ""
    body += "".join(interface_xml(decl) for decl in interfaces)
    body += "".join(f"  <node name={_attr(child)}/>\n" for child in children)
    return f"{_DOCTYPE}<node>\n{body}</node>\n"


def parse_interfaces(xml: str) -> dict[str, InterfaceDecl]:
    """The interfaces of a peer's introspection XML, by name (raises on malformed XML)."""
    node = Node.parse(xml, validate_property_names=False)
    result: dict[str, InterfaceDecl] = {}
    for iface in node.interfaces:
        default_emits = iface.annotations.get(EMITS_CHANGED, "true")
        props = tuple(PropertyDecl(p.name, p.signature, p.access.value,
                                   p.annotations.get(EMITS_CHANGED, default_emits))
                      for p in iface.properties)
        methods = tuple(MemberDecl(m.name,
                                   _args([(a.name, a.type.signature) for a in m.in_args]),
                                   _args([(a.name, a.type.signature) for a in m.out_args], "out"))
                        for m in iface.methods)
        signals = tuple(MemberDecl(s.name, _args([(a.name, a.type.signature) for a in s.args]))
                        for s in iface.signals)
        result[iface.name] = InterfaceDecl(iface.name, props, methods, signals)
    return result


def _args(args: list[tuple[str | None, str]], prefix: str = "arg") -> tuple[tuple[str, str], ...]:
    """Arguments with names; unnamed ones become ``arg0``/``out0``... so they can be keys."""
    return tuple((name or f"{prefix}{i}", sig) for i, (name, sig) in enumerate(args))
