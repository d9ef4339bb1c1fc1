"""The engines: takes a VerifiedModule, limits and capability handlers, gives a run's result or a structured error.

`reference` is the interpreter every other engine is tested against; `compiled`
translates verified functions to Python with identical outcomes to the
instruction; `faults` words every trap and run-time limit once for both, so a
failure reads the same (and traces are byte-identical) whichever engine ran.
"""
