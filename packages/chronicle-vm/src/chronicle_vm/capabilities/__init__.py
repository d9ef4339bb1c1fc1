"""Host powers: takes a host's registrations, a TOML policy and a VerifiedModule, gives one decision per declared
capability and the live handlers the engines call.

`host` (typed registration of host functions), `policy` (the TOML host policy:
limits, grants, quotas, settings), `negotiation` (each declared capability
against the policy and the host: granted, denied, missing, unknown or
type-invalid, all refusals together, before any plugin code runs).
"""
