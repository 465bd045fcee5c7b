"""FOCUS 1.2 both ways: export ``cost_line_items`` as FOCUS, and the columns FOCUS ingestion reads.

See docs/focus.md. Ingestion itself lives with the other readers (``transforms.readers.focus``).
"""

from transforms.focus.export import AWS, Provider, focus_relation, write_focus

__all__ = ["AWS", "Provider", "focus_relation", "write_focus"]
