"""The OCF server: /oic/res discovery, request dispatch, Observe and Block2.

Layer: protocol, no sockets. The I/O loop (``node``) hands every datagram to
``datagram(data, peer, channel, multicast, now)`` and calls ``tick(now)`` regularly; the server
answers through ``channel.send(data, peer)`` and asks ``channel.ep(peer)`` for the endpoint
URI to advertise in /oic/res. ``channel.oic_port`` is the unicast port (OIC 1.1 links).
Time is a wrapping millisecond tick compared only through ``hal.ticks_diff``.

Wire rules honoured here (docs/firmware.md, docs/protocol-notes.md):
- responses carry Content-Format 10000 and OCF-Content-Format-Version 2048;
- Accept other than 10000 is answered 4.06, except Accept 60 together with
  OCF-Accept-Content-Format-Version 2112: that client speaks OIC 1.1 and gets format 60
  payloads in the OIC 1.1 shapes; a requested version below 1.0.0 gets 4.15;
  a missing version option is accepted (OIC 1.1-era peers omit it);
- a multicast request is answered only with a success and only when something matched;
- /oic/res larger than the block size goes out block-wise (Block2) even to multicast;
- observe: GET Observe=0 registers, GET Observe=1 or an RST to a notification cancels;
  notifications are CON, retransmitted with exponential backoff (RFC 7252 4.2) and the
  observer is dropped after MAX_RETRANSMIT unanswered tries (RFC 7641 4.5).
"""

from . import cbor, coap, hal
from .resource import IF_BASELINE, WRITABLE_IFS, OcfError, Resource, device, platform

VERSION_OCF_1_0 = 2048
VERSION_OIC_1_1 = 2112
MAX_RETRANSMIT = 4
RES_IFS = ["oic.if.ll", "oic.if.baseline", "oic.if.b"]
# The duplicate-request cache (RFC 7252 4.5): the answers to the latest requests, so a
# retransmitted CON gets the same ACK again instead of a second execution. RECENT_MAX entries
# made with the server and reused in turn, their answers' bytes copied into one buffer of
# RECENT_BYTES used as a ring (a new answer overwrites the oldest ones, whose entries are
# forgotten): remembering a request allocates nothing, so serving leaves no block behind
# that on a small heap could split the one hole big enough for the next datagram. An answer
# larger than the buffer is not kept, and a duplicate of that request is answered anew
# (every request served here is idempotent).
RECENT_MAX = 8
RECENT_BYTES = 768


class Observer:
    def __init__(self, peer, token, resource, iface, oic, channel):
        self.peer = peer
        self.token = token
        self.follow(resource, iface, oic, channel)

    def follow(self, resource, iface, oic, channel):
        """(Re)start observing ``resource``: a registration, or a renewal with the same token."""
        self.resource = resource
        self.iface = iface
        self.oic = oic
        self.channel = channel
        self.dirty = False
        # The CON notification awaiting its ACK: message id, bytes, deadline, timeout, tries.
        self.mid = None
        self.data = None
        self.deadline = 0
        self.timeout = 0
        self.tries = 0


class Server:
    def __init__(self, identity, device_cfg, resources, net_cfg):
        self.di = identity["di"]
        self.device = device(identity, device_cfg["name"], device_cfg["type"])
        # /oic/res itself is answered by _discovery; this object only gives it a link.
        links = Resource("/oic/res", ["oic.wk.res"], RES_IFS, fixed={})
        self.resources = [links, self.device, platform(identity, device_cfg)]
        self.resources.extend(resources)
        for res in self.resources:
            res.on_change = self._changed
        self.block_szx = net_cfg["block_szx"]
        self.ack_timeout = net_cfg["ack_timeout_ms"]
        self.max_observers = net_cfg["max_observers"]
        self.observers = []
        # [mid, peer, start, length] each; mid -1: a free entry, start -1: no answer kept.
        self.recent = [[-1, None, -1, 0] for _ in range(RECENT_MAX)]
        self.recent_next = 0
        self.answers = memoryview(bytearray(RECENT_BYTES))
        self.answers_end = 0
        self.mid = int.from_bytes(hal.random_bytes(2), "big")
        self.obs_seq = 2

    # -- entry points -----------------------------------------------------------------

    def datagram(self, data, peer, channel, multicast, now):
        """Handle one received datagram; never raises for anything the network can send."""
        try:
            msg = coap.parse(data)
        except ValueError:
            reply = None if multicast else coap.reply_to_malformed(data)
            if reply:
                channel.send(reply, peer)
            return
        if msg.code == coap.EMPTY:
            if msg.mtype == coap.CON:
                channel.send(coap.build(coap.Message(coap.RST, coap.EMPTY, msg.mid)), peer)
            elif msg.mtype in (coap.ACK, coap.RST):
                self._acked(msg.mid, peer, msg.mtype == coap.RST, now)
            return
        if not msg.is_request():
            # We send no requests, so a response is stray; RST a CON one (RFC 7252 4.2).
            if msg.mtype == coap.CON:
                channel.send(coap.build(coap.Message(coap.RST, coap.EMPTY, msg.mid)), peer)
            elif msg.mtype == coap.RST:
                self._acked(msg.mid, peer, True, now)
            return
        if msg.mtype in (coap.ACK, coap.RST):
            return
        if multicast:
            msg.mtype = coap.NON
        for entry in self.recent:
            if entry[0] == msg.mid and entry[1] == peer:
                if entry[2] >= 0 and msg.mtype == coap.CON:
                    channel.send(self.answers[entry[2]:entry[2] + entry[3]], peer)
                return
        resp = self._respond_safely(msg, peer, channel, multicast, now)
        out = None
        if resp is not None and not (multicast and resp.code >= 128):
            resp.token = msg.token
            if msg.mtype == coap.CON:
                resp.mtype, resp.mid = coap.ACK, msg.mid
            else:
                resp.mtype, resp.mid = coap.NON, self._next_mid()
            out = coap.build(resp)
        # Only a CON duplicate is answered again: a NON one is dropped, so keep no bytes for it.
        self._remember(msg.mid, peer, out if msg.mtype == coap.CON else None)
        if out is not None:
            channel.send(out, peer)
        self._flush(now)

    def _remember(self, mid, peer, out):
        start = length = -1
        if out is not None:
            length = len(out)
            if length > RECENT_BYTES:
                return
            start = self.answers_end if self.answers_end + length <= RECENT_BYTES else 0
            for entry in self.recent:
                if entry[2] >= 0 and entry[2] < start + length and start < entry[2] + entry[3]:
                    _forget(entry)  # its answer is about to be overwritten
            self.answers[start:start + length] = out
            self.answers_end = start + length
        entry = self.recent[self.recent_next]
        self.recent_next = (self.recent_next + 1) % RECENT_MAX
        # One at a time: a multiple assignment would build a tuple on the heap.
        entry[0] = mid
        entry[1] = peer
        entry[2] = start
        entry[3] = length

    def shed(self):
        """Drop what can be rebuilt (the duplicate cache): the node is short of heap."""
        for entry in self.recent:
            _forget(entry)
        self.answers_end = 0

    def move_observers(self, moved):
        """After the sockets were reopened: ``moved`` maps each old channel to its new one.

        An observer whose channel has no successor (its address family did not come back)
        is dropped at once, with a log line, instead of failing every send until the
        retransmission limit gives up on it.
        """
        for obs in list(self.observers):
            new = moved.get(id(obs.channel))
            if new is None:
                hal.log("observer", obs.peer, obs.resource.href, "dropped: its socket is gone")
                self.observers.remove(obs)
            else:
                obs.channel = new

    def tick(self, now):
        """Poll resources, send due notifications and retransmissions."""
        for res in self.resources:
            try:
                res.poll(now)
            except Exception as e:  # a sensor fault must not stop the server
                hal.log("poll", res.href, "failed:", repr(e))
        for obs in list(self.observers):
            if obs.mid is not None and hal.ticks_diff(now, obs.deadline) >= 0:
                if obs.tries >= MAX_RETRANSMIT:
                    hal.log("observer", obs.peer, obs.resource.href, "gone: no ACK")
                    self.observers.remove(obs)
                    continue
                obs.tries += 1
                obs.timeout *= 2
                obs.deadline = hal.ticks_add(now, obs.timeout)
                obs.channel.send(obs.data, obs.peer)
        self._flush(now)

    def next_deadline(self, now, default):
        """Milliseconds until ``tick`` has retransmission work, at most ``default``."""
        wait = default
        for obs in self.observers:
            if obs.mid is not None:
                wait = min(wait, max(0, hal.ticks_diff(obs.deadline, now)))
        return wait

    # -- requests ---------------------------------------------------------------------

    def _respond_safely(self, msg, peer, channel, multicast, now):
        try:
            return self._respond(msg, peer, channel, multicast, now)
        except OcfError as e:
            return _error(e.code, e.message)
        except ValueError as e:
            # Broken CBOR, bad UTF-8 in a path or query: the request is malformed. The codecs
            # always give a reason; a bare ValueError (MicroPython's UnicodeError has no
            # text) is still named.
            return _error(coap.BAD_REQUEST, "bad request: " + (str(e) or type(e).__name__))
        except Exception as e:  # one bad request must not stop the device
            hal.log("request", msg, "failed:", repr(e))
            return _error(coap.INTERNAL_SERVER_ERROR, "internal error")

    def _respond(self, msg, peer, channel, multicast, now):
        oic = self._negotiate(msg)
        path = msg.path()
        query = msg.queries()
        if path == "/oic/res":
            if msg.code != coap.GET:
                raise OcfError(coap.METHOD_NOT_ALLOWED, "/oic/res is read-only")
            body = self._discovery(query, peer, channel, oic)
            if body is None:
                return None if multicast else _content(cbor.encode([]), oic)
            return self._blockwise(msg, cbor.encode(body), oic)
        res = self._find(path)
        if res is None:
            raise OcfError(coap.NOT_FOUND, "no resource at " + path)
        iface = res.ifs[0]
        for name, value in query:
            if name == "if":
                if value not in res.ifs:
                    raise OcfError(coap.BAD_REQUEST, "interface " + value + " not offered")
                iface = value
        if msg.code == coap.GET:
            resp = _content(cbor.encode(self._rep(res, iface, oic)), oic)
            observe = msg.get(coap.OBSERVE)
            if observe == 0 and res.observable and not multicast:
                if self._register(peer, msg.token, res, iface, oic, channel):
                    resp.add(coap.OBSERVE, self.obs_seq)
            elif observe == 1:
                self._cancel(peer, msg.token)
            return resp
        if msg.code == coap.POST:
            if iface not in WRITABLE_IFS:
                raise OcfError(coap.METHOD_NOT_ALLOWED, "interface " + iface + " is read-only")
            res.update(cbor.decode(msg.payload) if msg.payload else {})
            resp = _content(cbor.encode(self._rep(res, iface, oic)), oic)
            resp.code = coap.CHANGED
            return resp
        raise OcfError(coap.METHOD_NOT_ALLOWED, "method not allowed")

    def _negotiate(self, msg):
        """Return True for an OIC 1.1 client, False for OCF 1.x; raise for what we cannot serve."""
        accept = msg.get(coap.ACCEPT)
        accept_ver = msg.get(coap.OCF_ACCEPT_VERSION)
        oic = False
        if accept == coap.FORMAT_CBOR and accept_ver == VERSION_OIC_1_1:
            oic = True
        elif accept is not None and accept != coap.FORMAT_OCF_CBOR:
            raise OcfError(coap.NOT_ACCEPTABLE, "only application/vnd.ocf+cbor is served")
        elif accept_ver is not None and accept_ver < VERSION_OCF_1_0:
            raise OcfError(coap.UNSUPPORTED_CONTENT_FORMAT, "content version below OCF 1.0")
        if msg.payload:
            fmt = msg.get(coap.CONTENT_FORMAT)
            if fmt is not None and fmt != coap.FORMAT_OCF_CBOR and not (
                    oic and fmt == coap.FORMAT_CBOR):
                raise OcfError(coap.UNSUPPORTED_CONTENT_FORMAT, "payload must be OCF CBOR")
            ver = msg.get(coap.OCF_CONTENT_VERSION)
            if ver is not None and ver < VERSION_OCF_1_0:
                raise OcfError(coap.UNSUPPORTED_CONTENT_FORMAT, "content version below OCF 1.0")
        return oic

    def _find(self, path):
        for res in self.resources:
            if res.href == path:
                return res
        return None

    def _rep(self, res, iface, oic):
        rep = res.representation(iface)
        if oic and res is self.device:
            rep.pop("piid", None)
            rep["icv"] = "core.1.1.0"
        return rep

    def _discovery(self, query, peer, channel, oic):
        """The /oic/res body, or None when a filter matched nothing."""
        rt = None
        link_if = None
        res_if = "oic.if.ll"
        for name, value in query:
            if name == "rt":
                rt = value
            elif name == "if":
                if value in RES_IFS:
                    res_if = value
                else:
                    link_if = value
        chosen = []
        for res in self.resources:
            if rt is not None and rt not in res.rt:
                continue
            if link_if is not None and link_if not in res.ifs:
                continue
            chosen.append(res)
        if not chosen:
            return None
        if oic:
            links = []
            for res in chosen:
                links.append({"href": res.href, "rt": res.rt, "if": res.ifs,
                              "p": {"bm": res.bm(), "sec": False, "port": channel.oic_port}})
            return [{"di": self.di, "links": links}]
        if res_if == "oic.if.b":
            return [{"href": "ocf://" + self.di + res.href,
                     "rep": self._rep(res, res.ifs[0], oic)}
                    for res in chosen if res.href != "/oic/res"]
        eps = [{"ep": channel.ep(peer)}]
        anchor = "ocf://" + self.di
        links = []
        for res in chosen:
            links.append({"anchor": anchor, "href": res.href, "rt": res.rt, "if": res.ifs,
                          "p": {"bm": res.bm()}, "eps": eps})
        if res_if == IF_BASELINE:
            return [{"rt": ["oic.wk.res"], "if": RES_IFS, "links": links}]
        return links

    def _blockwise(self, msg, payload, oic):
        """Slice a large body per Block2 (RFC 7959); small ones go whole unless asked."""
        szx = self.block_szx
        start = 0
        asked = msg.get(coap.BLOCK2)
        if asked is not None:
            num, _, req_szx = coap.block_parts(asked)
            start = num << (req_szx + 4)
            # The smaller of the two sizes wins; the offset stays what the client asked for.
            szx = min(szx, req_szx)
        size = 16 << szx
        if asked is None and len(payload) <= size:
            return _content(payload, oic)
        num = start // size
        if start >= len(payload) and not (start == 0 and not payload):
            raise OcfError(coap.BAD_OPTION, "block beyond the end of the resource")
        chunk = payload[start:start + size]
        more = start + size < len(payload)
        resp = _content(chunk, oic)
        resp.add(coap.BLOCK2, coap.block_value(num, more, szx))
        if num == 0:
            resp.add(coap.SIZE2, len(payload))
        return resp

    # -- observe ----------------------------------------------------------------------

    def _register(self, peer, token, res, iface, oic, channel):
        for obs in self.observers:
            if obs.peer == peer and obs.token == token:
                # A renewal replaces the entry (RFC 7641 4.1), here in place: no new object on
                # the heap each time a client renews.
                obs.follow(res, iface, oic, channel)
                return True
        if len(self.observers) >= self.max_observers:
            hal.log("observer table full; serving", peer, "without observe")
            return False
        self.observers.append(Observer(peer, token, res, iface, oic, channel))
        return True

    def _cancel(self, peer, token):
        for obs in self.observers:
            if obs.peer == peer and obs.token == token:
                self.observers.remove(obs)
                return

    def _changed(self, res):
        for obs in self.observers:
            if obs.resource is res:
                obs.dirty = True

    def _acked(self, mid, peer, reset, now):
        for obs in self.observers:
            if obs.mid == mid and obs.peer == peer:
                if reset:
                    # RFC 7641 3.6: an RST to a notification cancels the observation.
                    self.observers.remove(obs)
                else:
                    obs.mid = None
                    obs.data = None
                self._flush(now)
                return

    def _flush(self, now):
        """Send one notification to every dirty observer that has no CON in flight."""
        for obs in self.observers:
            if not obs.dirty or obs.mid is not None:
                continue
            obs.dirty = False
            self.obs_seq = (self.obs_seq + 1) & 0xFFFFFF
            try:
                body = cbor.encode(self._rep(obs.resource, obs.iface, obs.oic))
            except Exception as e:  # one resource must not stop the others
                hal.log("notify", obs.resource.href, "failed:", repr(e))
                continue
            note = _content(body, obs.oic)
            note.mtype = coap.CON
            note.mid = self._next_mid()
            note.token = obs.token
            note.add(coap.OBSERVE, self.obs_seq)
            obs.mid = note.mid
            obs.data = coap.build(note)
            # ACK_TIMEOUT times a factor in [1, 1.5), derived from the id (RFC 7252 4.8).
            obs.timeout = self.ack_timeout + (note.mid % 512) * self.ack_timeout // 1024
            obs.tries = 0
            obs.deadline = hal.ticks_add(now, obs.timeout)
            obs.channel.send(obs.data, obs.peer)

    def _next_mid(self):
        self.mid = (self.mid + 1) & 0xFFFF
        return self.mid


def _forget(entry):
    entry[0] = -1
    entry[1] = None
    entry[2] = -1


def _content(payload, oic):
    resp = coap.Message(code=coap.CONTENT, payload=payload)
    if oic:
        resp.add(coap.CONTENT_FORMAT, coap.FORMAT_CBOR)
    else:
        resp.add(coap.CONTENT_FORMAT, coap.FORMAT_OCF_CBOR)
        resp.add(coap.OCF_CONTENT_VERSION, VERSION_OCF_1_0)
    return resp


def _error(code, text):
    return coap.Message(code=code, payload=text.encode("utf-8"))
