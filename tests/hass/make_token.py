"""Creates the test's Home Assistant user and a long-lived access token: run in HA's venv.

Test support only, run as ``python make_token.py CONFIG_DIR`` with Home Assistant's own
interpreter before Home Assistant starts: it goes through HA's auth manager (the same code
the profile page uses), which writes ``.storage/auth`` and ``.storage/auth_provider.*``, and
prints the token.
"""

import asyncio
import sys
from datetime import timedelta

from homeassistant import core
from homeassistant.auth import auth_manager_from_config
from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE


async def main(config_dir: str) -> None:
    hass = core.HomeAssistant(config_dir)
    hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    user = await hass.auth.async_create_user("ocfaj test", group_ids=["system-admin"])
    refresh = await hass.auth.async_create_refresh_token(
        user, client_name="ocfaj test", token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=3650))
    token = hass.auth.async_create_access_token(refresh)
    # The auth store saves lazily; the final-write event makes every store save now.
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    print(token)


asyncio.run(main(sys.argv[1]))
