"""The pure core: states, events, decisions. No I/O, no clock, no environment."""
