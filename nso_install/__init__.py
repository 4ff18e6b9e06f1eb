"""nso-install: install and harden Cisco NSO (facts -> plan -> apply).

The library never prints, prompts, configures logging or exits; ``cli.py`` does.
"""

__version__ = "0.1.0"
