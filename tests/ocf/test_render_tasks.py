"""The OCF server renders each request in a task with a fixed name (aiocoap_overrides).

aiocoap names each rendering task after the request's ``repr``, which costs about a tenth of
a GET's time; the server replaces that name and must keep answering exactly as before.
"""

from __future__ import annotations

import asyncio

import aiocoap
import cbor2

from bridge.ocf import wire
from bridge.ocf.aiocoap_overrides import RENDER_TASK_NAME
from bridge.ocf.coap_server import CoapEndpoint
from bridge.ocf.served import ServedDevice, ServedResource

HREF = "/level"


async def test_requests_are_rendered_under_the_fixed_task_name_and_answered_as_before() -> None:
    names: list[str] = []

    def read() -> dict[str, int]:
        task = asyncio.current_task()
        names.append(task.get_name() if task is not None else "")
        return {"value": 7}

    device = ServedDevice(
        di="6f1c1a2e-0000-4000-8000-0000000000a1", device_types=("oic.wk.d", "oic.d.sensor"),
        device={"n": "Level"}, platform={"pi": "6f1c1a2e-0000-4000-8000-0000000000a2",
                                         "mnmn": "test"},
        resources={HREF: ServedResource(HREF, ("x.test.level",), ("oic.if.r",), False, read)})
    endpoint = CoapEndpoint(device, bind_host="::1")
    port = await endpoint.start()
    client = await aiocoap.Context.create_client_context()
    try:
        ok = await client.request(aiocoap.Message(
            code=aiocoap.GET, uri=f"coap://[::1]:{port}{HREF}")).response
        missing = await client.request(aiocoap.Message(
            code=aiocoap.GET, uri=f"coap://[::1]:{port}/nothing")).response
    finally:
        await client.shutdown()
        await endpoint.shutdown()
    assert ok.code == aiocoap.CONTENT
    assert ok.opt.content_format == wire.CF_OCF_CBOR
    assert cbor2.loads(ok.payload) == {"value": 7}
    assert missing.code == aiocoap.NOT_FOUND
    assert names == [RENDER_TASK_NAME]
