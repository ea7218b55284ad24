"""The closed loop: scenario files, the simulator and its reports."""
