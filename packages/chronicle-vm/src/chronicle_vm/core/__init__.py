"""The VM's vocabulary: takes nothing, gives value types, the instruction set, the module model and VM values.

Everything later in the pipeline speaks these terms; nothing here depends on
any later stage.  `types` (value types), `isa` (the opcode table), `model`
(the immutable module a decoder or assembler builds), `values` (VM values and
the checked copy across the host boundary), `calls` (the capability-handler
protocol the engines call).
"""
