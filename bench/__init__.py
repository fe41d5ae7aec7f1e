"""Reproducible benchmarks of the gateway (issue 8): ``python -m bench [--quick] [--only NAME]``.

Not part of the ``bridge`` package and never imported by it. Every benchmark measures its raw
baseline (the protocol library alone) in the same run and reports the gateway's numbers as a
ratio to it, because absolute numbers drift from machine to machine and run to run. Nothing
here sends traffic anywhere but loopback or network namespaces the benchmark itself created.
"""
