"""A CoAP endpoint whose device is secured: coaps beside plain CoAP, every request checked.

Layer: ``bridge.ocf`` I/O (aiocoap, through ``bridge.ocf.coap_server``). The one place where
access control runs for the gateway's secured bridge and virtual devices: :meth:`answer`
asks ``SecuredDevice.answer_first`` before the request reaches ``bridge.ocf.served`` (and,
for a POST, the registry and the origin device). Observations pass here too: their first
response is this answer, so an observation the ACL refuses never starts. The served
device's ``di`` follows the doxm ``deviceuuid`` (the owner may change it).
"""

from __future__ import annotations

from typing import Any

from bridge.ocf.coap_server import CoapEndpoint
from bridge.ocf.served import Reply, ServedDevice
from bridge.ocf.svr_device import SecuredDevice


class SecuredEndpoint(CoapEndpoint):
    """A :class:`CoapEndpoint` for ``own`` behind ``security``; other options as its base."""

    def __init__(self, own: ServedDevice | None, security: SecuredDevice,
                 **options: Any) -> None:
        self.security = security
        self._own: ServedDevice | None = None
        super().__init__(own, **options)
        self._host = str(options.get("bind_host") or "::")

    @property
    def own(self) -> ServedDevice | None:
        return self._own

    @own.setter
    def own(self, device: ServedDevice | None) -> None:
        self._own = device
        if device is not None:
            device.link_eps = self.security.link_eps
            self.security.sync_di(device)

    async def start(self) -> int:
        port = await super().start()
        await self.security.serve_on(self._context, self._host, lambda: self._own)
        return port

    async def shutdown(self) -> None:
        await super().shutdown()
        self.security.stopped()

    def _interfaces(self, href: str) -> tuple[str, ...]:
        resource = self._own.find(href) if self._own is not None else None
        return resource.ifs if resource is not None else ()

    async def answer(self, message: Any) -> Reply:
        first = self.security.answer_first(message, self.max_payload, self._interfaces)
        if first is not None:
            return first
        return await super().answer(message)
