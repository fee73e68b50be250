"""Command grammar files (*.cli), one per subsystem: VPP short_help syntax bound to handlers."""
