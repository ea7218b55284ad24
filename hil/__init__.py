"""The hardware-in-the-loop bench: one target interface, several transports."""
