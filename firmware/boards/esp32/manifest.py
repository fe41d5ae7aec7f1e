"""Freeze the OCF firmware into an ESP32 image (bytecode then lives in flash).

    make -C ports/esp32 BOARD=ESP32_GENERIC \
        FROZEN_MANIFEST=/path/to/firmware/boards/esp32/manifest.py

Only config.json stays on the filesystem. See docs/firmware.md.
"""
# ruff: noqa: F821 -- include/package/module are provided by MicroPython's manifest runner

include("$(PORT_DIR)/boards/manifest.py")
package("ocf", base_path="../..")
module("main.py")
