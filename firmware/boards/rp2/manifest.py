"""Freeze the OCF firmware into a Raspberry Pi Pico W image (bytecode then lives in flash).

    make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=/path/to/firmware/boards/rp2/manifest.py

Only config.json stays on the filesystem. See docs/firmware.md.
"""
# ruff: noqa: F821 -- include/package/module are provided by MicroPython's manifest runner

include("$(BOARD_DIR)/manifest.py")
package("ocf", base_path="../..")
module("main.py")
