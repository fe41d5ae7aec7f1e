"""One websocket command to Home Assistant: run in HA's venv (it has aiohttp).

Test support only: ``python ws_call.py PORT TOKEN JSON`` authenticates with the long-lived
token, sends the command (``{"type": ...}``, the id is added) and prints its ``result``.
"""

import asyncio
import json
import sys

import aiohttp


async def main(port: str, token: str, command: str) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(
            f"http://127.0.0.1:{port}/api/websocket") as ws:
        assert (await ws.receive_json())["type"] == "auth_required"
        await ws.send_json({"type": "auth", "access_token": token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        await ws.send_json({"id": 1, **json.loads(command)})
        answer = await ws.receive_json()
        if not answer.get("success"):
            raise SystemExit(f"websocket command failed: {answer}")
        print(json.dumps(answer["result"]))


asyncio.run(main(*sys.argv[1:4]))
