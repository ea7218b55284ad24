"""Firmware targets behind one interface (see base.Target)."""
