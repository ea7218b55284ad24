"""The simulated world around the firmware: pack (cells, thermal), sensors, faults, charger.

Plant truth reaches the firmware only through bms.plant.sensors."""
