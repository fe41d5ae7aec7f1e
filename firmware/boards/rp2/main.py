"""Board entry point: serve the OCF device described by /config.json, identity kept in /.

Copied to the board's root as main.py (docs/firmware.md). A start-up error (for example a
bad configuration file) is printed and main.py ends, leaving the REPL usable: the board never
resets into the same error again and again.
"""

from ocf import main

main.run("config.json", "/")
