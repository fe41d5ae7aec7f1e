"""Build one ``CapabilityModel`` from a parsed capability file.

Layer: ``bridge.model``. Pure; no I/O. Checks the cross-references of the OCF, AllJoyn and MQTT
sections against the file's canonical properties (helpers in ``bridge.model.binding``) and
returns the immutable model. Violations raise ``SchemaViolation`` with the key path.
"""

from __future__ import annotations

from typing import Any

from bridge.model.binding import (
    Doc,
    Props,
    canonical,
    canonical_value_error,
    checked_signature,
    property_spec,
    value_binding,
)
from bridge.model.schema import SchemaViolation, describe, join
from bridge.model.signature import kind as signature_kind
from bridge.model.signature import value_fits
from bridge.model.types import (
    AllJoynBinding,
    AllJoynInterfaceBinding,
    AllJoynMethodBinding,
    AllJoynPropertyBinding,
    CapabilityModel,
    MqttBinding,
    OcfBinding,
    OcfPropertyBinding,
)


def build_capability(doc: dict[str, Any], source_file: str = "") -> CapabilityModel:
    """The capability a structurally valid document describes; SchemaViolation if inconsistent."""
    props: Props = {
        name: property_spec(name, prop, join("properties", name))
        for name, prop in doc["properties"].items()
    }
    return CapabilityModel(
        id=doc["id"], title=doc["title"], description=doc["description"],
        properties=tuple(props.values()),
        ocf=_ocf(doc["ocf"], "ocf", props),
        alljoyn=_alljoyn(doc["alljoyn"], "alljoyn", props),
        mqtt=_mqtt(doc["mqtt"], "mqtt", props),
        source_file=source_file,
    )


def _ocf(doc: Doc, path: str, props: Props) -> OcfBinding:
    if doc["default_interface"] not in doc["interfaces"]:
        raise SchemaViolation(join(path, "default_interface"),
                              "one of interfaces " + ", ".join(doc["interfaces"]),
                              repr(doc["default_interface"]))
    constants = doc.get("constants", {})
    bindings = []
    carried: set[str] = set()
    for name, prop in doc["properties"].items():
        prop_path = join(join(path, "properties"), name)
        if name in constants:
            raise SchemaViolation(prop_path, "a property that is not also a constant", repr(name))
        value = value_binding(prop, prop_path, props, "ocf")
        if value.canonical in carried:
            raise SchemaViolation(join(prop_path, "canonical"),
                                  "each canonical property carried by one OCF property",
                                  repr(value.canonical))
        carried.add(value.canonical)
        bindings.append(OcfPropertyBinding(name=name, value=value))
    return OcfBinding(
        resource_type=doc["resource_type"], interfaces=tuple(doc["interfaces"]),
        default_interface=doc["default_interface"], observable=doc["observable"],
        properties=tuple(bindings),
        constants=tuple((k, tuple(v) if isinstance(v, list) else v)
                        for k, v in constants.items()),
        href_hint=doc.get("href_hint", ""),
    )


def _alljoyn(doc: Doc, path: str, props: Props) -> AllJoynBinding:
    interfaces = []
    names: set[str] = set()
    carried: set[str] = set()
    for index, iface in enumerate(doc["interfaces"]):
        iface_path = f"{path}.interfaces[{index}]"
        if iface["name"] in names:
            raise SchemaViolation(join(iface_path, "name"), "a name not listed before",
                                  repr(iface["name"]))
        names.add(iface["name"])
        interfaces.append(_interface(iface, iface_path, props, carried))
    return AllJoynBinding(interfaces=tuple(interfaces),
                          object_path_hint=doc.get("object_path_hint", ""))


def _interface(doc: Doc, path: str, props: Props, carried: set[str]) -> AllJoynInterfaceBinding:
    properties = doc.get("properties", {})
    methods = doc.get("methods", {})
    if not properties and not methods:
        raise SchemaViolation(path, "at least one property or method", "neither")
    for name in properties:
        if name == "Version":
            raise SchemaViolation(join(join(path, "properties"), name),
                                  "no Version property (the producer adds it from version)",
                                  "Version")
        if name in methods:
            raise SchemaViolation(join(join(path, "methods"), name),
                                  "a member name not used by a property", repr(name))
    return AllJoynInterfaceBinding(
        name=doc["name"], version=doc["version"],
        properties=tuple(_aj_property(name, prop, join(join(path, "properties"), name), props,
                                      carried) for name, prop in properties.items()),
        methods=tuple(_aj_method(name, method, join(join(path, "methods"), name), props)
                      for name, method in methods.items()),
        project_defined=doc.get("project_defined", False),
    )


def _aj_property(name: str, doc: Doc, path: str, props: Props,
                 carried: set[str]) -> AllJoynPropertyBinding:
    sig = checked_signature(doc["signature"], join(path, "signature"))
    given = [key for key in ("canonical", "const", "bound") if key in doc]
    if len(given) != 1:
        raise SchemaViolation(path, "exactly one of canonical, const or bound",
                              ", ".join(given) or "none")
    if given[0] != "canonical":
        for key in ("transform", "scale", "map"):
            if key in doc:
                raise SchemaViolation(join(path, key), f"no {key} without canonical", key)
    common: dict[str, Any] = {"name": name, "signature": sig, "access": doc["access"],
                              "emits_changed": doc["emits_changed"]}
    if "const" in doc:
        if doc["access"] != "read" or not value_fits(sig, doc["const"]):
            raise SchemaViolation(join(path, "const"),
                                  f"a read-only constant that fits signature {sig!r}",
                                  describe(doc["const"]))
        return AllJoynPropertyBinding(**common, const=doc["const"])
    if "bound" in doc:
        spec = canonical(props, doc["bound"][0], join(path, "bound") + "[0]")
        if spec.type not in ("integer", "number") or signature_kind(sig) not in (
                "integer", "number") or doc["access"] != "read":
            raise SchemaViolation(join(path, "bound"), "a read-only numeric bound of a "
                                  "numeric canonical property", f"{spec.type} {spec.name}")
        return AllJoynPropertyBinding(**common, bound=(spec.name, doc["bound"][1]))
    value = value_binding(doc, path, props, "alljoyn", sig)
    spec = props[value.canonical]
    if doc["access"] == "readwrite" and not spec.writable:
        raise SchemaViolation(join(path, "access"), f"read (canonical {spec.name} is read-only)",
                              "'readwrite'")
    if value.canonical in carried:
        raise SchemaViolation(join(path, "canonical"),
                              "each canonical property carried by one AllJoyn property",
                              repr(value.canonical))
    carried.add(value.canonical)
    return AllJoynPropertyBinding(**common, value=value)


def _aj_method(name: str, doc: Doc, path: str, props: Props) -> AllJoynMethodBinding:
    unavailable = str(doc.get("unavailable", ""))
    if unavailable and (doc.get("sets") or doc.get("in_args")):
        raise SchemaViolation(path, "unavailable alone (a method that acts has no reason to "
                              "be unavailable)", "unavailable with sets or in_args")
    if unavailable:
        return AllJoynMethodBinding(name=name, unavailable=unavailable)
    if not doc.get("sets") and not doc.get("in_args"):
        raise SchemaViolation(path, "sets, in_args (a method acts on canonical properties) or "
                              "unavailable", "none of them")
    sets = []
    for prop_name, value in doc.get("sets", {}).items():
        set_path = join(join(path, "sets"), prop_name)
        spec = canonical(props, prop_name, set_path)
        problem = canonical_value_error(spec, value) or (
            None if spec.writable else f"a writable property ({spec.name} is read-only)")
        if problem:
            raise SchemaViolation(set_path, problem, describe(value))
        sets.append((spec.name, value))
    in_args = []
    for index, (arg, sig, prop_name) in enumerate(doc.get("in_args", ())):
        arg_path = f"{join(path, 'in_args')}[{index}]"
        checked_signature(sig, arg_path + "[1]")
        spec = canonical(props, prop_name, arg_path + "[2]")
        if not spec.writable:
            raise SchemaViolation(arg_path + "[2]", "a writable canonical property",
                                  f"read-only {spec.name}")
        in_args.append((arg, sig, spec.name))
    return AllJoynMethodBinding(name=name, sets=tuple(sets), in_args=tuple(in_args))


def _mqtt(doc: Doc, path: str, props: Props) -> MqttBinding:
    extra = []
    seen = {doc["state_property"]}
    for index, entity in enumerate(doc.get("additional_entities", ())):
        entity_path = f"{path}.additional_entities[{index}]"
        if entity["state_property"] in seen:
            raise SchemaViolation(join(entity_path, "state_property"),
                                  "a state property no other entity of this capability uses",
                                  repr(entity["state_property"]))
        seen.add(entity["state_property"])
        extra.append(_mqtt_entity(entity, entity_path, props))
    return _mqtt_entity(doc, path, props, tuple(extra))


def _mqtt_entity(doc: Doc, path: str, props: Props,
                 extra: tuple[MqttBinding, ...] = ()) -> MqttBinding:
    spec = canonical(props, doc["state_property"], join(path, "state_property"))
    for key in ("payload_on", "payload_off"):
        if key in doc:
            problem = canonical_value_error(spec, doc[key])
            if problem:
                raise SchemaViolation(join(path, key), problem, describe(doc[key]))
    return MqttBinding(
        component=doc["component"], state_property=spec.name,
        device_class=doc.get("device_class"), unit=doc.get("unit"),
        state_class=doc.get("state_class"), icon=doc.get("icon"),
        payload_on=doc.get("payload_on"), payload_off=doc.get("payload_off"),
        additional_entities=extra,
    )
