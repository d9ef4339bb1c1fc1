"""chronicle_lang."""
