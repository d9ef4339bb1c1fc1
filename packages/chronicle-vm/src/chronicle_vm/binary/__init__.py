"""The binary format: takes `.cmod` bytes or a Module, gives a Module or bytes, byte-identical both ways.

`schema` holds the Construct schemas, the one definition of the bytes; `decode`
refuses any malformed input with a `DecodeError` carrying its offset, checking
counts against fixed bounds before anything is allocated; `encode` writes a
Module back exactly.  Nothing here judges whether a module may run: that is
the verifier's.
"""
