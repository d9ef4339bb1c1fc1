"""The error codes the command line itself raises: takes nothing, registers them with chronicle_vm's code registry.

Imported by the package's `__init__`, so `import chronicle_cli` declares
every code below (docs/errors.md is generated from the registry).  All
other codes come from the libraries.
"""

from __future__ import annotations

from chronicle_vm.errors import declare_codes

__all__: list[str] = []

declare_codes(
    "usage",
    {
        "arguments": "the command line does not parse (unknown option, missing value, bad number, bad --slice)",
        "bad-argument": "an --arg value does not fit the entry parameter's declared type",
        "output-file": "an output file cannot be written (a directory, or no permission)",
        "interrupted": "the command was interrupted with Ctrl-C (exit 130)",
        "unreadable-file": "a file named on the command line or by the host cannot be read",
    },
)
declare_codes("internal", {"unexpected": "a bug in ChronicleVM: an exception no input should cause (exit 70)"})
declare_codes("decode", {"empty-file": "the module file is empty"})
declare_codes("policy", {"empty-file": "the policy file is empty"})
declare_codes(
    "replay",
    {
        "empty-file": "the trace file is empty",
        "not-a-trace": "the file given as a trace is not JSON (a module or a policy?)",
    },
)
declare_codes(
    "source",
    {
        "empty-file": "the source file is empty",
        "invalid-utf8": "the source is not valid UTF-8 (undecodable bytes, or a lone surrogate in text)",
    },
)
