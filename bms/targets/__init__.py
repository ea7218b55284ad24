"""Firmware targets: the interface (base.Target) and the one registry that opens them by
name (registry.open_target). The core has the in-process firmware (`sim`); other packages
(hil) register theirs through the `bms.targets` entry-point group."""
