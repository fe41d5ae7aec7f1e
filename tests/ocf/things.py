"""Things of another side for the virtual-device tests, and a recording origin handler."""

from __future__ import annotations

from collections.abc import Mapping

from bridge.core.identity import IdentityBook
from bridge.core.registry import Command, CommandHandler, InvokeMethod
from bridge.core.thing import (
    Capability,
    DeviceInfo,
    GenericMember,
    GenericProperty,
    GenericSpec,
    Side,
    Thing,
)
from bridge.model.types import Catalogue, Value

APP_ID = bytes.fromhex("46e80bf89ff5478abe9f7fa34adc497b")
DEVICE_ID = "0ce43c8b-b997-4a05-b77d-1c92e01fe7ae"
WIDGET = "org.example.Widget"


class RecordingOrigin(CommandHandler):
    """The AllJoyn side as far as these tests need it: records what reaches the device."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    async def execute(self, thing: Thing, command: Command) -> Mapping[str, Value]:
        self.commands.append(command)
        if isinstance(command, InvokeMethod):
            return {"Result": f"did {command.args.get('Level')}"}
        return dict(command.values)

    async def refresh(self, thing: Thing, capability: str) -> Mapping[str, Value]:
        return dict(thing.capabilities[capability].state)


def alljoyn_lamp(catalogue: Catalogue, book: IdentityBook) -> Thing:
    thing_id, identity = book.for_alljoyn_device(DEVICE_ID, APP_ID)

    def model_cap(key: str, state: dict[str, Value]) -> Capability:
        model = catalogue.capability(key)
        assert model is not None
        return Capability(key=key, instance=f"/{key}", model=model, state=state)

    widget = GenericSpec(
        interface=WIDGET,
        properties=(GenericProperty("Level", "i", "rw", "true"),
                    GenericProperty("Serial_Number", "s", "r", "const")),
        methods=(GenericMember("Pulse", in_args=(("Level", "i"),), out_args=(("Result", "s"),)),),
        signals=(GenericMember("Alarm", out_args=(("Code", "u"),)),),
    )
    caps = {
        "switch": model_cap("switch", {"on": False}),
        "brightness": model_cap("brightness", {"brightness": 40}),
        "temperature": model_cap("temperature", {"temperature": 20.5}),
        "widget": Capability(key="widget", instance="/widget/main", generic=widget,
                             state={"Level": 3, "Serial_Number": "A-1"}),
    }
    return Thing(id=thing_id, origin=Side.ALLJOYN, identity=identity,
                 info=DeviceInfo(name="AJ Lamp", manufacturer="Example Corporation Ltd",
                                 device_types=("oic.d.light",)),
                 capabilities=caps)
