"""The packet generator: stream specs, pg-input, pg interfaces and capture."""
