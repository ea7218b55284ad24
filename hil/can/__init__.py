"""CAN on the bench: the DBC (bms/data/can/bms.dbc) through cantools, buses through
python-can, the firmware's CAN layer (native/src/can_layer.c) in-process through cffi."""
