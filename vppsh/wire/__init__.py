"""Pure packet parse/emit helpers (no engine state), in the spirit of smoltcp's `wire`."""
