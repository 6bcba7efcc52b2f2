"""at-bridge: a Linux board answering a Wi-Fi module's AT commands on a UART."""

__version__ = "0.1.0"
