"""The command language: grammar compiler, dispatcher, REPL, batch runner, CLI socket."""
