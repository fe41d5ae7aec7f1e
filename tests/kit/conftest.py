"""Tests of the simulation kit itself: the pytest plugin (through ``pytester``), fault
injection on both sides, and ``ocfaj simulate --scenario`` as a process."""

