"""chronicle_asm."""
