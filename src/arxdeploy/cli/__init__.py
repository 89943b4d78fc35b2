"""The command line: parse, call the engine, render, map errors to exit codes."""
