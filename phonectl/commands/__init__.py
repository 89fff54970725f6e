"""One module per command group: parse flags, call the core, hand the result to render."""
