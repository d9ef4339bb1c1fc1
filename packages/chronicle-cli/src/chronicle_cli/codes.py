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
        "suggest-conflict": "policy suggest: the traces declare one capability with two signatures",
    },
)
# `usage.unreadable-file` is declared by the policy loader (a policy's kv file); the CLI raises it too.
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
# `source.invalid-utf8` (the source bytes are not UTF-8) is the front end's code (chronicle_asm.source).
declare_codes("source", {"empty-file": "the source file is empty"})

# audit and map (chronicle_cli.batch_cli, batch, executors)
declare_codes(
    "usage",
    {
        "bad-row": "a map input row is not JSON, not a JSON array of arguments, or over the row size cap",
        "no-input": "audit found no trace or no module at the paths given (a glob that matches nothing)",
        "dask-missing": "--dask was given but dask.distributed is not installed (pip install 'chronicle-cli[dask]')",
        "dask-connect": "--dask ADDRESS: the scheduler cannot be reached, or the LocalCluster did not start",
    },
)
declare_codes(
    "internal",
    {"worker-lost": "a worker process died while running these items (killed, out of memory); they did not finish"},
)
declare_codes("replay", {"audit-failures": "some traces of an audit were not replayed exactly (each is in the report)"})
declare_codes("runtime", {"map-failures": "some rows of a map ended in an error or were lost (each is in the output)"})
