"""chronicle_cli."""
