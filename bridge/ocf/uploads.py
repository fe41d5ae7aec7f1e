"""Block-wise uploads (RFC 7959 Block1) being put together, bounded and forgotten in time.

Layer: ``bridge.ocf`` I/O (aiocoap messages, asyncio timers). aiocoap's own spool keeps every
unfinished upload for one to two times 93 s, without limit: 20,000 first blocks that never
get a second are 20,000 requests in memory. :class:`UploadSpool` does the same work under the
caps of :class:`~bridge.ocf.limits.ClientLimits`: the first block of an upload takes a place
in ``uploads`` (refused with 5.03 past ``max_uploads_per_client`` or ``max_uploads``), each
further block must follow within ``upload_expiry`` seconds or the upload is dropped (and
counted), and an upload may not grow past the endpoint's ``max_payload`` (4.13).

It keeps aiocoap's contract (``feed_and_take``: the whole request once its last block is in,
else the 2.31 Continue or 4.08 Request Entity Incomplete that aiocoap renders) and must not
render requests itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from aiocoap import Message
from aiocoap.blockwise import ContinueException, IncompleteException
from aiocoap.error import ConstructionRenderableError
from aiocoap.numbers.codes import Code
from aiocoap.numbers.optionnumbers import OptionNumber

from bridge.ocf.admission import client_host
from bridge.ocf.limits import ClientLimits

log = logging.getLogger("ocfaj.ocf.limits")


class UploadRefused(ConstructionRenderableError):  # type: ignore[misc]
    """5.03: the client address, or all clients, already have their unfinished uploads."""

    code = Code.SERVICE_UNAVAILABLE


class UploadTooLarge(ConstructionRenderableError):  # type: ignore[misc]
    """4.13: the upload grew past the largest payload this endpoint takes."""

    code = Code.REQUEST_ENTITY_TOO_LARGE


class UploadBroken(ConstructionRenderableError):  # type: ignore[misc]
    """4.00: a middle block whose size is not the block size it announces."""

    code = Code.BAD_REQUEST


@dataclass
class _Upload:
    host: str
    request: Any
    timer: asyncio.TimerHandle


class UploadSpool:
    """The unfinished uploads of one endpoint; the caps are those of the whole gateway."""

    def __init__(self, limits: ClientLimits, max_payload: int) -> None:
        self.limits = limits
        self.max_payload = max_payload
        self._uploads: dict[Hashable, _Upload] = {}

    def __len__(self) -> int:
        return len(self._uploads)

    def feed_and_take(self, request: Any) -> Any:
        block1 = request.opt.block1
        if block1 is None:
            return request
        key = (request.remote.blockwise_key, request.code, request.get_cache_key(
            [OptionNumber.BLOCK1, OptionNumber.BLOCK2, OptionNumber.OBSERVE]))
        if block1.block_number == 0:
            # A new first block starts the upload again (RFC 7959 section 2.5).
            self._forget(key)
            if not block1.more:
                return request
            host = client_host(request.remote)
            problem = self.limits.uploads.take(host)
            if problem is not None:
                self.limits.refused.uploads += 1
                log.info("refusing a block-wise upload from %s with 5.03: %s", host, problem)
                raise UploadRefused(f"too many unfinished block-wise uploads: {problem}")
            self._check_size(block1, request)
            self._uploads[key] = _Upload(host, request, self._timer(key))
            raise ContinueException(block1)
        upload = self._uploads.get(key)
        if upload is None or block1.start != len(upload.request.payload):
            raise IncompleteException
        if block1.more:
            self._check_size(block1, request)
        if len(upload.request.payload) + len(request.payload) > self.max_payload:
            self._forget(key)
            raise UploadTooLarge(f"payload larger than {self.max_payload} bytes")
        upload.request = upload.request.copy(
            payload=upload.request.payload + request.payload, token=request.token,
            mid=request.mid, block1=block1,
            block2=request.opt.block2 if not block1.more else upload.request.opt.block2)
        if block1.more:
            upload.timer.cancel()
            upload.timer = self._timer(key)
            raise ContinueException(block1)
        whole: Message = upload.request
        self._forget(key)
        return whole

    def shutdown(self) -> None:
        for key in list(self._uploads):
            self._forget(key)

    def _check_size(self, block1: Any, request: Any) -> None:
        # RFC 7959 section 2.2: every block but the last carries exactly the block size
        # (BERT, size exponent 7, a multiple of it).
        size_ok = (len(request.payload) == block1.size
                   or (block1.size_exponent == 7 and len(request.payload) % block1.size == 0))
        if not size_ok:
            raise UploadBroken("payload size does not match Block1")

    def _timer(self, key: Hashable) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(self.limits.upload_expiry,
                                                     self._expire, key)

    def _expire(self, key: Hashable) -> None:
        upload = self._uploads.get(key)
        if upload is None:
            return
        self.limits.refused.uploads_expired += 1
        log.debug("dropping the unfinished block-wise upload of %s: no block for %g s",
                  upload.host, self.limits.upload_expiry)
        self._forget(key)

    def _forget(self, key: Hashable) -> None:
        upload = self._uploads.pop(key, None)
        if upload is not None:
            upload.timer.cancel()
            self.limits.uploads.give(upload.host)
