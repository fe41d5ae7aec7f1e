"""Run the firmware on a Linux host as a software OCF device (tests, demos).

    python -m firmware.host --config firmware/boards/host/config.json --state DIR

The same ``ocf`` package as on the boards runs here; ``ocf.hal`` picks the host shims, whose
pins are simulated. Standard input takes control lines and standard output reports what the
device does, one line each, so a test (or a person) can act as the hardware:

    in:  set <pin> <0|1>       drive a simulated input pin (contact, motion)
         adc <pin> <0..65535>  set a simulated ADC reading
         temp <celsius>        set the simulated internal temperature sensor
         get <pin>             print "pin <pin> <level>"
         stat                  print "observers <count>"
         quit                  stop
    out: ready di=<di> port4=<port> port6=<port>
         pin <pin> <level>     an output pin was written (switch)
         pwm <pin> <duty_u16>  a PWM duty cycle was set (brightness)
         observers <count>     answer to stat
         error <text>          a control line was not understood
Log lines go to standard error.
"""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ocf import hal_host, main  # after the path is set above


def _say(*parts):
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


class Control:
    """Reads control lines from file descriptor ``fd`` whenever the loop finds it readable.

    Unbuffered reads: a buffered reader could swallow several lines while poll() reports
    the descriptor readable only once.
    """

    def __init__(self, fd):
        self.fd = fd
        self.pending = b""
        self.stopped = False
        self.node = None

    def readable(self):
        data = os.read(self.fd, 4096)
        if not data:
            self.stopped = True
            return
        self.pending += data
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            try:
                self.command(line.decode().split())
            except (ValueError, IndexError) as e:
                _say("error", repr(line.strip()), e)

    def command(self, words):
        if not words:
            return
        verb = words[0]
        if verb == "set":
            hal_host.set_level(words[1], 1 if int(words[2]) else 0)
        elif verb == "adc":
            hal_host.set_level(words[1], int(words[2]))
        elif verb == "temp":
            hal_host.SENSORS["temperature"] = float(words[1])
        elif verb == "get":
            _say("pin", words[1], hal_host.PINS.get(words[1], 0))
        elif verb == "stat":
            _say("observers", len(self.node.server.observers))
        elif verb == "quit":
            self.stopped = True
        else:
            raise ValueError("unknown command")


def _parse_args(argv):
    opts = {"--config": None, "--state": "."}
    i = 0
    while i < len(argv):
        if argv[i] not in opts or i + 1 >= len(argv):
            raise SystemExit("usage: python -m firmware.host --config FILE [--state DIR]")
        opts[argv[i]] = argv[i + 1]
        i += 2
    if opts["--config"] is None:
        raise SystemExit("usage: python -m firmware.host --config FILE [--state DIR]")
    return opts["--config"], opts["--state"]


def run(argv):
    config_path, state_dir = _parse_args(argv)
    hal_host.LISTENERS.append(_say)
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir)
    control = Control(sys.stdin.fileno())
    node = main.start(config_path, state_dir)
    if node is None:
        return 2
    control.node = node
    node.add_reader(control.fd, control.readable)
    ports = node.ports
    _say("ready", "di=" + node.server.di, "port4=" + str(ports.get(socket.AF_INET, 0)),
         "port6=" + str(ports.get(socket.AF_INET6, 0)))
    try:
        main.serve(node, lambda: control.stopped)
    except KeyboardInterrupt:
        pass
    node.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
